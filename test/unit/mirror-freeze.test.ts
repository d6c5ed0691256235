// An idle session's replay mirror keeps its scrollback compressed (scrollback-freezer.ts), which is most of what an
// idle session costs the server; a client that reconnects must still get exactly the screen and scrollback of a
// client that saw every byte — also after the frozen terminal is resized (reflow), cleared or reset, and after more
// output pushed part of the frozen lines out.
import xtermHeadless from '@xterm/headless';
import { SerializeAddon } from '@xterm/addon-serialize';
import { afterEach, describe, expect, it } from 'vitest';
import { MirrorHost, type MirrorMemoryStats } from '../../server/terminals/mirror/mirror-host.js';
import { FREEZE_MIN_LINES } from '../../server/terminals/mirror/scrollback-freezer.js';
import {
  ScreenMirror,
  SNAPSHOT_BOUNDARY_WAIT_MS,
  type ScreenSnapshot,
} from '../../server/terminals/mirror/screen-mirror.js';
import { until } from '../helpers/labs.js';
import { waitUntil } from '../helpers/proc.js';

const { Terminal } = xtermHeadless;
const SIZE = { cols: 120, rows: 40, scrollback: 1000 };
/** Freeze 5 ms after a terminal goes idle (the server waits seconds). */
const FREEZE_SOON_MS = 5;

type Event = Buffer | { cols: number; rows: number };

async function render(events: Event[], cols: number, rows: number): Promise<string> {
  const t = new Terminal({ cols, rows, scrollback: SIZE.scrollback, allowProposedApi: true, logLevel: 'off' });
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

/**
 * Coloured lines (a bold label, a colour, an italic tail), some wrapped over 2–4 rows, some with wide and combining
 * characters. Not dim: the serialize addon ends dim with SGR 22, which ends bold too, so a bold cell right after a
 * dim one replays as not bold (with or without freezing; xterm's addon-serialize 0.14).
 */
function lines(from: number, count: number): string {
  let out = '';
  for (let i = from; i < from + count; i++) {
    const c = 31 + (i % 7);
    const body =
      i % 5 === 0 ? '世界é😀e\u0301 '.repeat(30) : 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(i % 3 === 0 ? 8 : 3);
    out += `\x1b[1;${c}mline ${i}\x1b[0m \x1b[${c}m${body}\x1b[0m \x1b[3mtail\x1b[0m\r\n`;
  }
  return out;
}

let host: MirrorHost | undefined;
afterEach(() => {
  host?.dispose();
  host = undefined;
});

describe('an idle replay mirror', () => {
  it('keeps its scrollback compressed and still replays it exactly (resize, clear, reset, more output)', async () => {
    const h = (host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS, FREEZE_SOON_MS));
    const m = new ScreenMirror({ ...SIZE, host: h, onProgress: () => {} });
    const all: Event[] = [];
    let size = { cols: SIZE.cols, rows: SIZE.rows };
    const write = async (text: string) => {
      const b = Buffer.from(text);
      m.write(b);
      all.push(b);
      await waitUntil(() => m.backlogBytes === 0, 'the mirror to catch up');
    };
    const resize = (cols: number, rows: number) => {
      m.resize(cols, rows);
      all.push({ cols, rows });
      size = { cols, rows };
    };
    const frozen = () =>
      until<MirrorMemoryStats>('the scrollback to be frozen', async () => {
        const s = await h.stats();
        return s.liveLines < FREEZE_MIN_LINES ? s : undefined;
      });
    const expectExact = async () => {
      const snap = await new Promise<ScreenSnapshot>((resolve) => m.requestSnapshot(resolve));
      const replay = [snap.screen, ...snap.following.map((e) => (e.kind === 'output' ? e.bytes : e))];
      expect(await render(replay, snap.cols, snap.rows)).toBe(await render(all, size.cols, size.rows));
    };

    await write(lines(0, 3000));
    const stats = await frozen();
    expect(stats.frozenLines).toBeGreaterThanOrEqual(SIZE.scrollback);
    // 12 bytes per cell unfrozen; compressed, a small fraction of that
    expect(stats.packedBytes).toBeLessThan((SIZE.scrollback * SIZE.cols * 12) / 10);
    await expectExact(); // the snapshot thaws it …
    await frozen(); // … and it freezes again once idle

    resize(90, 30); // reflows the frozen lines
    await write(lines(3000, 300)); // pushes part of the frozen lines out
    await frozen();
    await expectExact();

    resize(130, 45);
    await write('\x1b[3J' + lines(3300, 200)); // clears the frozen scrollback, then more
    await frozen();
    await expectExact();

    await write('\x1bc' + lines(3500, 1500)); // a full reset, then more
    await frozen();
    await expectExact();
    m.dispose();
  });
});
