// Whatever a program prints — floods of any kind, and hostile output — the replay mirror (the worker's headless
// xterm, which skips what floods scroll away) must hand a new client exactly the screen of a client that got
// every byte: the snapshot plus the events after it, rendered, against a headless xterm fed the whole stream in
// the same writes. Every case runs twice: as the mirror runs while output keeps coming, and with the worker freezing
// each terminal's scrollback (scrollback-freezer.ts) as soon as it is idle, after every batch.
import { afterEach, describe, expect, it } from 'vitest';
import { FREEZE_IDLE_MS, MirrorHost } from '../../server/terminals/mirror/mirror-host.js';
import { FREEZE_MIN_LINES } from '../../server/terminals/mirror/scrollback-freezer.js';
import {
  ScreenMirror,
  SNAPSHOT_BOUNDARY_WAIT_MS,
  type ScreenSnapshot,
} from '../../server/terminals/mirror/screen-mirror.js';
import { until } from '../helpers/labs.js';
import { waitUntil } from '../helpers/proc.js';
import { renderTerminal, replayOf, type TerminalEvent } from '../helpers/render-terminal.js';
import { rng } from '../helpers/rng.js';

const SIZE = { cols: 40, rows: 10, scrollback: 100 };
const KB = 1024;
const MB = 1024 * KB;

const COLOURS = ['\x1b[01;34m', '\x1b[0;31m', '\x1b[38;5;208m', '\x1b[1;4:3m', '\x1b[48;2;1;2;3m', '\x1b[m\x1b[K'];
const UTF8 = ['Grüße', '世界', 'Привет', '😀', 'e\u0301', 'ก\u0e31', '한국어', '\u200d'];

function lines(seed: number, count: number, kind: 'plain' | 'sgr' | 'utf8' | 'mixed'): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  let out = '';
  for (let i = 0; i < count; i++) {
    let l = `${i} `;
    const words = Math.floor(r() * 12);
    for (let w = 0; w < words; w++) {
      const k = kind === 'mixed' ? pick(['plain', 'sgr', 'utf8'] as const) : kind;
      // colours left on across lines half the time (the pen at a cut matters)
      l +=
        k === 'sgr' ? `${pick(COLOURS)}word${r() < 0.5 ? '\x1b[0m' : ''} ` : k === 'utf8' ? `${pick(UTF8)} ` : 'word ';
    }
    out += l + '\r\n';
  }
  return out;
}

/** Words in every mix of bold (1), dim (2), both, normal (22) and reset (0), with colours between. */
function intensities(seed: number, count: number): string {
  const r = rng(seed);
  const SGRS = ['\x1b[1m', '\x1b[2m', '\x1b[1;2m', '\x1b[22m', '\x1b[0m', '\x1b[22;1m', '\x1b[22;2m', '\x1b[33m'];
  let out = '';
  for (let i = 0; i < count; i++) {
    out += `${i} `;
    for (let w = 0; w < 6; w++) out += `${SGRS[Math.floor(r() * SGRS.length)] as string}w${w} `;
    out += '\r\n';
  }
  return out;
}

function randomBytes(seed: number, n: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Splits into writes of 1 byte to 48 KB, as a pty's reads would come. */
function writes(data: Buffer | string, seed: number): Buffer[] {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = 1 + Math.floor(r() ** 2 * 48 * KB);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

const render = (events: TerminalEvent[], size = SIZE): Promise<string> => renderTerminal(events, size);

let host: MirrorHost | undefined;
afterEach(() => {
  host?.dispose();
  host = undefined;
});

/** A worker that freezes a terminal's scrollback 1 ms after it went idle. */
const FREEZE_AT_ONCE_MS = 1;

/**
 * Each batch reaches the mirror worker in one event-loop turn (so a flood in it can be skipped, as when the worker
 * falls behind) and is parsed before the next; then a new client's replay is compared with the full stream. With
 * `freeze`, the scrollback is frozen after each batch (the worker holds fewer than FREEZE_MIN_LINES live ones).
 */
async function expectReplayExact(batches: Array<Buffer | string>, freeze: boolean): Promise<void> {
  host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS, freeze ? FREEZE_AT_ONCE_MS : FREEZE_IDLE_MS);
  const m = new ScreenMirror({ ...SIZE, host, onProgress: () => {} });
  const all: Buffer[] = [];
  let froze = false;
  for (const [k, batch] of batches.entries()) {
    const ws = writes(batch, k + 1);
    for (const w of ws) m.write(w);
    all.push(...ws);
    await waitUntil(() => m.backlogBytes === 0, 'the mirror to catch up');
    if (!freeze) continue;
    const h = host;
    const stats = await until('the scrollback to be frozen', async () => {
      const s = await h.stats();
      return s.liveLines < FREEZE_MIN_LINES ? s : undefined;
    });
    froze ||= stats.frozenLines > 0;
  }
  if (freeze) expect(froze).toBe(true);
  const snap = await new Promise<ScreenSnapshot>((resolve) => m.requestSnapshot(resolve));
  m.dispose();
  expect(await render(replayOf(snap), { ...SIZE, cols: snap.cols, rows: snap.rows })).toBe(await render(all));
}

const MODES = [
  ['while busy', false],
  ['frozen whenever idle', true],
] as const;

describe.each(MODES)('the replay mirror shows what a client that got every byte shows (%s)', (_mode, freeze) => {
  it.each([
    ['plain lines', [lines(1, 5000, 'plain')]],
    ['SGR-coloured lines', [lines(2, 5000, 'sgr')]],
    ['a colour set once, then plain lines in it', ['\x1b[1;32;44m' + lines(8, 5000, 'plain')]],
    ['UTF-8 lines (wide and combining characters)', [lines(3, 5000, 'utf8')]],
    ['mixed lines, in several batches', [lines(4, 3000, 'mixed'), lines(5, 3000, 'sgr'), lines(6, 3000, 'utf8')]],
    // no wide characters: where one wraps early, a line shifted by a column falls back into step
    ['one long line, coloured and UTF-8', [lines(7, 4000, 'sgr').replace(/\r\n/g, ' Grüße café ')]],
  ])('%s', async (_name, batches) => {
    await expectReplayExact(batches, freeze);
  });
});

describe.each(MODES)('hostile output never desynchronizes the replay (%s)', (_mode, freeze) => {
  it.each([
    [
      'unterminated escape sequences between floods',
      [
        lines(10, 3000, 'sgr') + '\x1b[38;5',
        ';1' + lines(11, 3000, 'sgr') + '\x1b',
        lines(12, 3000, 'utf8') + '\x1b[?',
      ],
    ],
    [
      'an OSC left open swallows a flood, then a flood after it',
      [lines(13, 2000, 'sgr') + '\x1b]0;', lines(14, 3000, 'utf8') + '\x07' + lines(15, 3000, 'sgr')],
    ],
    [
      'huge OSC strings (a 2 MB title, a 1 MB hyperlink)',
      [
        '\x1b]0;' + 't'.repeat(2 * MB) + '\x07' + lines(16, 2000, 'sgr'),
        '\x1b]8;;https://x/' + 'a'.repeat(MB) + '\x1b\\link\x1b]8;;\x1b\\' + lines(17, 2000, 'mixed'),
      ],
    ],
    [
      'invalid UTF-8 inside floods',
      [
        Buffer.concat([
          Buffer.from(lines(18, 2000, 'utf8')),
          randomBytes(19, 64 * KB),
          Buffer.from(lines(20, 3000, 'utf8')),
        ]),
        Buffer.concat([Buffer.from([0xe2, 0x80]), Buffer.from(lines(21, 3000, 'sgr')), Buffer.from([0xf0, 0x9f])]),
        lines(22, 3000, 'mixed'),
      ],
    ],
    [
      '1 MB without a newline (plain, coloured, UTF-8)',
      ['x'.repeat(MB), '\r\n' + '\x1b[31mred\x1b[0m '.repeat(MB / 16), '\r\n' + '世界é😀'.repeat(MB / 13) + '\r\n'],
    ],
    [
      'alternate-screen toggles in a flood',
      [
        lines(23, 2000, 'sgr') + '\x1b[?1049h' + lines(24, 2000, 'utf8') + '\x1b[?1049l' + lines(25, 2000, 'mixed'),
        '\x1b[?1049h' + lines(26, 3000, 'sgr'),
        lines(27, 3000, 'mixed') + '\x1b[?1049l' + lines(28, 3000, 'plain'),
      ],
    ],
    ['binary garbage (cat /dev/urandom)', [randomBytes(29, 2 * MB), lines(30, 3000, 'sgr')]],
    // SGR 22 ends bold and dim together: a serializer that writes them apart loses one (git's dim path + bold name)
    ['bold and dim turned on and off in every order', [intensities(31, 400)]],
  ])('%s', async (_name, batches) => {
    await expectReplayExact(batches, freeze);
  });
});
