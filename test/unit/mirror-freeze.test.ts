// An idle session's replay mirror keeps its scrollback compressed (scrollback-freezer.ts), which is most of what an
// idle session costs the server; a client that reconnects must still get exactly the screen and scrollback of a
// client that saw every byte — also after the frozen terminal is resized (reflow), cleared or reset, and after more
// output pushed part of the frozen lines out.
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
import { renderTerminal, replayOf, type TerminalEvent } from '../helpers/render-terminal.js';

const SIZE = { cols: 120, rows: 40, scrollback: 1000 };
/** Freeze 5 ms after a terminal goes idle (the server waits seconds). */
const FREEZE_SOON_MS = 5;

type Event = TerminalEvent;

const render = (events: Event[], cols: number, rows: number): Promise<string> =>
  renderTerminal(events, { cols, rows, scrollback: SIZE.scrollback });

/**
 * Coloured lines (a bold label, a colour, an italic tail), some wrapped over 2–4 rows, some with wide and combining
 * characters. (Dim after bold is mirror-hostile.test.ts's "bold and dim" case.)
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
      expect(await render(replayOf(snap), snap.cols, snap.rows)).toBe(await render(all, size.cols, size.rows));
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
