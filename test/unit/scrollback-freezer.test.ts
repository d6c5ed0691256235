// Freezing a headless xterm's scrollback (scrollback-freezer.ts) must leave no trace: two terminals get the same
// writes, resizes, scrollback clears and resets, one of them frozen whenever it is idle (and thawed before a resize,
// as the mirror worker does); both must hold the same lines, cell for cell, and serialize to the same bytes.
import xtermHeadless from '@xterm/headless';
import { SerializeAddon } from '@xterm/addon-serialize';
import { describe, expect, it } from 'vitest';
import { FREEZE_MIN_LINES, ScrollbackFreezer } from '../../server/terminals/mirror/scrollback-freezer.js';
import { rng } from '../helpers/rng.js';

const { Terminal } = xtermHeadless;
type Term = InstanceType<typeof Terminal>;

const COLOURS = [
  '\x1b[01;34m',
  '\x1b[0;31m',
  '\x1b[38;5;208m',
  '\x1b[1;4:3m',
  '\x1b[58:2::9:8:7m\x1b[4m',
  '\x1b[48;2;1;2;3m',
];
const WORDS = [
  'word',
  'Grüße',
  '世界',
  '😀',
  'e\u0301',
  'ก\u0e31',
  '\x1b]8;;https://example.org/\x1b\\link\x1b]8;;\x1b\\',
];

function output(r: () => number, lines: number): string {
  let out = '';
  for (let i = 0; i < lines; i++) {
    let l = `${i} `;
    const words = Math.floor(r() * 30); // up to ~3 rows: wrapped lines
    for (let w = 0; w < words; w++) {
      const word = WORDS[Math.floor(r() * WORDS.length)] as string;
      l += r() < 0.4 ? `${COLOURS[Math.floor(r() * COLOURS.length)]}${word}${r() < 0.5 ? '\x1b[0m' : ''} ` : `${word} `;
    }
    out += l + (r() < 0.1 ? '\x1b[K' : '') + '\r\n';
  }
  return out;
}

function write(t: Term, data: string): Promise<void> {
  return new Promise((resolve) => t.write(data, resolve));
}

interface LineView {
  _data: Uint32Array;
  length: number;
  isWrapped: boolean;
}

/** Every line of the normal buffer as xterm holds it: cells, length, wrap flag. */
function cells(t: Term): Array<{ data: number[]; length: number; wrapped: boolean }> {
  const lines = (
    t as unknown as { _core: { buffers: { normal: { lines: { length: number; get(i: number): LineView } } } } }
  )._core.buffers.normal.lines;
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines.get(i);
    out.push({ data: [...l._data], length: l.length, wrapped: l.isWrapped });
  }
  return out;
}

function twin(cols: number, rows: number, scrollback: number): { t: Term; ser: SerializeAddon } {
  const t = new Terminal({ cols, rows, scrollback, allowProposedApi: true, logLevel: 'off' });
  const ser = new SerializeAddon();
  t.loadAddon(ser);
  return { t, ser };
}

describe('a frozen scrollback', () => {
  it('is released and comes back cell for cell', async () => {
    const { t } = twin(100, 20, 500);
    await write(t, output(rng(1), 800));
    const before = cells(t);
    const freezer = new ScrollbackFreezer(t);
    const freed = freezer.freeze();
    expect(freed).toBeGreaterThan(400 * 100 * 12);
    expect(freezer.frozenLines).toBe(500);
    expect(freezer.packedBytes).toBeLessThan(freed / 10);
    freezer.thaw();
    expect(cells(t)).toEqual(before);
    t.dispose();
  });

  it('keeps fewer new lines than FREEZE_MIN_LINES live', async () => {
    const rows = 10;
    const { t } = twin(80, rows, 500);
    await write(t, 'x\r\n'.repeat(rows - 1 + FREEZE_MIN_LINES - 1));
    const freezer = new ScrollbackFreezer(t);
    expect(freezer.freeze()).toBe(0);
    await write(t, 'y\r\n');
    expect(freezer.freeze()).toBeGreaterThan(0);
    t.dispose();
  });

  it.each([1, 2, 3, 4, 5, 6])(
    'changes nothing a never-frozen terminal shows (random output, resizes, clears; seed %i)',
    async (seed) => {
      const r = rng(seed);
      const frozen = twin(60, 12, 300);
      const plain = twin(60, 12, 300);
      const freezer = new ScrollbackFreezer(frozen.t);
      let frozeAny = false;
      for (let step = 0; step < 40; step++) {
        const x = r();
        if (x < 0.1) {
          const cols = 20 + Math.floor(r() * 80);
          const rows = 5 + Math.floor(r() * 30);
          freezer.thaw(); // as the mirror worker does before a resize
          frozen.t.resize(cols, rows);
          plain.t.resize(cols, rows);
        } else {
          const data =
            x < 0.13
              ? '\x1b[3J' // clear the scrollback
              : x < 0.15
                ? '\x1bc' // full reset
                : x < 0.2
                  ? `\x1b[?1049h${output(r, 30)}\x1b[?1049l`
                  : x < 0.25
                    ? `\x1b7${output(r, 5)}\x1b8\x1b[2;8r${output(r, 20)}\x1b[r` // saved cursor, scroll region
                    : output(r, Math.floor(r() * 400));
          await write(frozen.t, data);
          await write(plain.t, data);
        }
        if (r() < 0.6) frozeAny = freezer.freeze() > 0 || frozeAny;
        if (r() < 0.2) {
          freezer.thaw();
          expect(frozen.ser.serialize()).toBe(plain.ser.serialize());
          expect(cells(frozen.t)).toEqual(cells(plain.t));
        }
      }
      freezer.thaw();
      expect(frozeAny).toBe(true);
      expect(frozen.ser.serialize()).toBe(plain.ser.serialize());
      expect(cells(frozen.t)).toEqual(cells(plain.t));
      frozen.t.dispose();
      plain.t.dispose();
    },
  );
});
