// What a client's terminal shows: a headless xterm fed the same writes and resizes, serialized. The replay tests
// compare a new client's replay (a snapshot and the events after it) with a client that got every byte.
import xtermHeadless from '@xterm/headless';
import { SerializeAddon } from '@xterm/addon-serialize';
import type { ScreenSnapshot } from '../../server/terminals/mirror/screen-mirror.js';

const { Terminal } = xtermHeadless;

export type TerminalEvent = Buffer | { cols: number; rows: number };

/** The serialized screen and scrollback of a terminal of `size` after `events`, in order. */
export async function renderTerminal(
  events: readonly TerminalEvent[],
  size: { cols: number; rows: number; scrollback: number },
): Promise<string> {
  const t = new Terminal({ ...size, allowProposedApi: true, logLevel: 'off' });
  const ser = new SerializeAddon();
  t.loadAddon(ser);
  for (const e of events) {
    if (Buffer.isBuffer(e)) await new Promise<void>((resolve) => t.write(e, resolve));
    else t.resize(e.cols, e.rows);
  }
  const out = ser.serialize();
  t.dispose();
  return out;
}

/** What a new client is given: the snapshot's screen, then each event after it. */
export function replayOf(s: ScreenSnapshot): TerminalEvent[] {
  return [s.screen, ...s.following.map((e) => (e.kind === 'output' ? e.bytes : { cols: e.cols, rows: e.rows }))];
}
