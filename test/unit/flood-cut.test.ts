// The flood cut must never change what a replay shows: a terminal that parses only the cut's prefix and what
// follows the cut ends in exactly the state of one that parsed everything. Checked on real headless xterms with
// random prior states and generated floods of every kind: plain, coloured, UTF-8 (wide and combining
// characters), one long wrapped line, mixed, and mixed with bytes that end a run.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cutOptions } from '../../server/terminals/mirror/cut-options.js';
import { floodCut, type FloodCutOptions } from '../../server/terminals/mirror/flood-cut.js';
import { cutFlood, skimFloodCut } from '../../server/terminals/mirror/flood-skim.js';
import { rng } from '../helpers/rng.js';

const require = createRequire(import.meta.url);
const { Terminal } = require('@xterm/headless') as typeof import('@xterm/headless');
const { SerializeAddon } = require('@xterm/addon-serialize') as typeof import('@xterm/addon-serialize');

const COLS = 40;
const ROWS = 10;
const SCROLLBACK = 20;

/** Raw bytes (invalid UTF-8) inside a test string: lone surrogates U+DC80…U+DCFF stand for bytes 0x80…0xFF. */
const raw = (...bytes: number[]) => String.fromCharCode(...bytes.map((b) => 0xdc00 + b));
function enc(s: string): Uint8Array {
  const out: number[] = [];
  for (const part of s.split(/([\udc80-\udcff]+)/)) {
    if (/^[\udc80-\udcff]+$/.test(part)) for (let i = 0; i < part.length; i++) out.push(part.charCodeAt(i) - 0xdc00);
    else out.push(...new TextEncoder().encode(part));
  }
  return new Uint8Array(out);
}
const opts = (keepDowns: number, over: Partial<FloodCutOptions> = {}): FloodCutOptions => ({
  cols: COLS,
  keepDowns,
  startColumn: 0,
  wcwidth: null,
  ...over,
});

type Rng = () => number;
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rng, n: number) => Math.floor(r() * n);

const SGR = [
  '\x1b[0m',
  '\x1b[m',
  '\x1b[1;31m',
  '\x1b[01;34m',
  '\x1b[00m',
  '\x1b[;32m',
  '\x1b[38;5;0m', // the 0 is a colour, not a reset
  '\x1b[38;5;208m',
  '\x1b[48;2;10;20;30m',
  '\x1b[38:2::255:0:0m',
  '\x1b[4:3m',
  '\x1b[58;5;3m',
  '\x1b[7m',
  '\x1b[22;39m',
  '\x1b[0;1;4;95;104m',
  '\x1b[2;3;9m',
  '\x1b[K',
  '\x1b[1K',
  '\x1b[2K',
];
/** Narrow, wide (CJK, emoji: widths per xterm's Unicode 6 table), and combining / zero-width characters. */
const UTF8 = [
  'é',
  'ü',
  'ß',
  'λ',
  'ж',
  '€',
  '─',
  '中',
  '日本',
  '한',
  '😀',
  '🎉',
  '\u0301',
  '\u20dd',
  '\u200d',
  '\ufe0f',
  'ก\u0e31',
];

/** Whatever a session printed before: colours, cursor moves, a scroll region set and reset, partial lines. */
function priorState(r: Rng): string {
  const parts: string[] = [];
  for (let i = 0; i < 30; i++) {
    const p = r();
    if (p < 0.2) parts.push(pick(r, SGR));
    else if (p < 0.3) parts.push(`\x1b[${1 + int(r, ROWS)};${1 + int(r, COLS)}H`);
    else if (p < 0.34) parts.push('\x1b[3;6r\x1b[2;1Hin region\n\n\n\x1b[r');
    else if (p < 0.38) parts.push('\x1b[?1049h alt \x1b[?1049l');
    else if (p < 0.42) parts.push(pick(r, UTF8) + pick(r, UTF8));
    else parts.push('x'.repeat(int(r, 70)) + (r() < 0.7 ? '\r\n' : r() < 0.5 ? '\n' : '\r'));
  }
  const end = r();
  // how the state the flood starts from ends: a pending wrap, a combining mark to come, no auto-wrap, DEC graphics
  if (end < 0.15) parts.push(`\x1b[${ROWS};1H` + 'y'.repeat(COLS));
  else if (end < 0.25) parts.push('é');
  else if (end < 0.3) parts.push('\x1b[?7l');
  else if (end < 0.35) parts.push('\x1b(0');
  return parts.join('');
}

/** What ends a run: anything but text, SGR and EL (a REP, a title, a clear, invalid UTF-8, mode changes). */
const HOSTILE = [
  '\x1b]0;title\x07',
  '\x1b]0;unterminated',
  '\x1bPdcs',
  '\x1b[1;',
  '\x1b[2J',
  raw(0xff),
  raw(0xc3) + 'x', // a lead byte without its continuation
  raw(0xe2, 0x82), // a truncated character
  raw(0xc0, 0xaf), // overlong
  raw(0xed, 0xa0, 0x80), // a surrogate
  '\u009b', // C1 CSI, well-formed UTF-8
  '\x1b[?1049h',
  '\x1b[?1049l',
  '\x1b[5;3H',
  '\x1b[?7l',
  '\x1b[3b',
];

const KINDS = ['plain', 'sgr', 'utf8', 'long', 'mixed', 'hostile'] as const;
type Kind = (typeof KINDS)[number];

function text(r: Rng, kind: Kind, len: number): string {
  let s = '';
  for (let j = 0; j < len; j++) {
    const p = r();
    if (kind === 'plain' || p < 0.6) s += String.fromCharCode(0x20 + int(r, 95));
    else if (kind === 'sgr' || (kind !== 'utf8' && p < 0.75)) s += pick(r, SGR);
    else if (kind === 'utf8' || p < 0.95) s += pick(r, UTF8);
    else if (kind === 'hostile' && r() < 0.01) s += pick(r, HOSTILE);
    else s += kind === 'long' ? '\b' : pick(r, ['\b', '\t']); // a tab: the column is unknown until the next CR
  }
  return s;
}

function flood(r: Rng, kind: Kind): string {
  if (kind === 'long') return text(r, kind, 1500 + int(r, 3000)); // one line, wrapped ~60 times or more
  const crlf = r() < 0.7;
  let out = '';
  const lines = 20 + int(r, 200);
  for (let i = 0; i < lines; i++) {
    out += text(r, kind, int(r, r() < 0.1 ? 130 : 50));
    const end = r();
    out += crlf ? (end < 0.85 ? '\r\n' : end < 0.95 ? '\n' : '\r') : end < 0.97 ? '\n' : '\r\n';
  }
  return out;
}

/** What follows the flood: a REP, a combining mark and more text — anything that reads state the flood left. */
const tail = (r: Rng) => pick(r, ['', '\x1b[3b', '\u0301x', 'abc\x1b[2b', '\x1b[?7h\x1b(B\n']);

function split(bytes: Uint8Array, r: Rng): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + int(r, 600);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

type Term = InstanceType<typeof Terminal>;
function write(term: Term, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => term.write(data, resolve));
}

function newTerm(): { term: Term; ser: InstanceType<typeof SerializeAddon> } {
  // logLevel off: xterm logs every malformed sequence of the hostile floods
  const term = new Terminal({
    cols: COLS,
    rows: ROWS,
    scrollback: SCROLLBACK,
    allowProposedApi: true,
    logLevel: 'off',
  });
  const ser = new SerializeAddon();
  term.loadAddon(ser);
  return { term, ser };
}

/** Screen, scrollback, cursor (x = cols is a pending wrap), pen and xterm's preceding character. */
function stateOf(t: { term: Term; ser: InstanceType<typeof SerializeAddon> }) {
  const b = t.term.buffer.active;
  const core = (t.term as unknown as { _core: Internals })._core;
  const pen = core._inputHandler._curAttrData;
  return {
    screen: t.ser.serialize(),
    x: b.cursorX,
    y: b.cursorY,
    length: b.length,
    base: b.baseY,
    pen: [pen.fg, pen.bg, pen.extended.underlineStyle, pen.extended.underlineColor],
    preceding: core._inputHandler._parser.precedingJoinState,
  };
}
interface Internals {
  _inputHandler: {
    _curAttrData: { fg: number; bg: number; extended: { underlineStyle: number; underlineColor: number } };
    _parser: { precedingJoinState: number };
  };
}

describe('floodCut', () => {
  it('finds no cut without enough line feeds after a carriage return', () => {
    expect(floodCut([enc('a\r\nb\r\n')], opts(3))).toBeNull();
    expect(floodCut([enc('a\nb\nc\nd\n')], opts(1))).toBeNull(); // without counted columns only CRs cut
    expect(floodCut([enc('head\r\n' + 'abc\n'.repeat(3))], opts(5))).toBeNull(); // only 4 after the CR
    expect(floodCut([], opts(1))).toBeNull();
  });

  it('cuts at the latest carriage return that keeps enough line feeds, across chunks', () => {
    const at = (c: ReturnType<typeof floodCut>) => c && [c.entry, c.offset, c.endEntry, c.endOffset, c.prefix.length];
    expect(at(floodCut([enc('a\r\nb\r\nc\r\nd\r\n')], opts(2)))).toEqual([0, 7, 0, 12, 0]);
    expect(at(floodCut([enc('a\r'), enc('\nb\r\n'), enc('c\r\nd\r\n')], opts(2)))).toEqual([2, 1, 2, 6, 0]);
    expect(at(floodCut([enc('xx\r\n' + 'abc\n'.repeat(5))], opts(4)))).toEqual([0, 2, 0, 24, 0]);
  });

  it('carries the pen from the last reset in a prefix, and ends the run at anything else', () => {
    const cut = floodCut([enc('\x1b[1ma\r\n\x1b[0;31mb\x1b[4m\r\nc\r\nd\r\n\x1b[2Je\r\nf\r\n')], opts(2));
    expect(new TextDecoder().decode(cut?.prefix)).toBe('\x1b[0;31m\x1b[4m');
    expect(cut && [cut.offset, cut.endOffset]).toEqual([22, 27]); // the CR after c; the run ends at ESC [ 2 J
    expect(floodCut([enc('\x1b]0;t\x07a\r\nb\r\nc\r\n')], opts(1))).toBeNull(); // the run starts at the first byte
    expect(floodCut([enc('\u009ba\r\nb\r\nc\r\n')], opts(1))).toBeNull(); // a C1 control (CSI) in UTF-8
    expect(floodCut([enc('é中\r\nb\r\nc\r\n')], opts(1))).not.toBeNull();
  });

  it('cuts a long line where it knows the column, and sets it in the prefix', () => {
    const term = new Terminal({ cols: COLS, rows: ROWS, scrollback: SCROLLBACK, allowProposedApi: true });
    const o = cutOptions(term, SCROLLBACK) as FloodCutOptions;
    expect(o.wcwidth).not.toBeNull();
    const cut = floodCut([enc('中'.repeat(1000))], { ...o, keepDowns: 3 }); // 20 wide characters a row
    expect(cut && [cut.entry, cut.offset]).toEqual([0, 3 * (20 * 46 + 1)]); // the 2nd character of row 47 (of 50)
    expect(new TextDecoder().decode(cut?.prefix)).toBe('\x1b[3G');
    term.dispose();
  });

  // floodCut walks every byte; cutFlood (what the worker runs) tries flood-skim.ts's native scans first.
  const CUTTERS = { floodCut, cutFlood } as const;
  it.each(KINDS.flatMap((kind) => (['floodCut', 'cutFlood'] as const).map((cutter) => [kind, cutter] as const)))(
    'leaves exactly the state a full parse leaves: %s floods through %s (80 random prior states each)',
    async (kind, cutter) => {
      const cutOf = CUTTERS[cutter];
      let cuts = 0;
      let withPrefix = 0;
      let columnCuts = 0;
      let skimmed = 0;
      const seeds = Number(process.env.FLOOD_CUT_SEEDS ?? 80);
      for (let seed = 1; seed <= seeds; seed++) {
        const r = rng(seed * 7919 + KINDS.indexOf(kind));
        const before = priorState(r);
        const chunks = split(enc(flood(r, kind)), r);
        const after = tail(r);
        const full = newTerm();
        const cutOnly = newTerm();
        await write(full.term, before);
        await write(cutOnly.term, before);
        for (const c of chunks) await write(full.term, c);
        await write(full.term, after);
        const o = cutOptions(cutOnly.term, SCROLLBACK);
        const cut = o && cutOf(chunks, o);
        if (o && cutter === 'cutFlood' && skimFloodCut(chunks, o)) skimmed++;
        if (cut) {
          cuts++;
          if (cut.prefix.length > 0) withPrefix++;
          if (cut.prefix.at(-1) === 0x47 /* CHA */) columnCuts++;
          await write(cutOnly.term, cut.prefix);
          for (let e = cut.entry; e < chunks.length; e++)
            await write(cutOnly.term, e === cut.entry ? (chunks[e] as Uint8Array).subarray(cut.offset) : chunks[e]!);
        } else for (const c of chunks) await write(cutOnly.term, c);
        await write(cutOnly.term, after);
        expect(stateOf(cutOnly), `${kind} seed ${seed}`).toEqual(stateOf(full));
        full.term.dispose();
        cutOnly.term.dispose();
      }
      // the property was exercised, not vacuously true
      expect(cuts).toBeGreaterThan(kind === 'hostile' ? 10 : 40);
      // (a cut the fast path finds is at a CR: its prefix is only the pen, and UTF-8 floods here have no SGR)
      if (kind !== 'plain' && !(kind === 'utf8' && cutter === 'cutFlood')) expect(withPrefix).toBeGreaterThan(10);
      if (kind === 'long') expect(columnCuts).toBeGreaterThan(40);
      // the fast path was taken, and when it was not the walk still cut the long lines
      if (cutter === 'cutFlood' && kind !== 'long' && kind !== 'hostile') expect(skimmed).toBeGreaterThan(20);
    },
  );
});

describe('skimFloodCut', () => {
  /** Lines of `kind` text shorter than COLS, each ending in CR LF as the pty writes them. */
  function lines(r: Rng, kind: 'plain' | 'sgr' | 'utf8', n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) {
      let line = '';
      while (line.length < 10 + int(r, 20))
        line += kind === 'plain' ? 'w' : kind === 'sgr' ? pick(r, SGR) + 'w' : pick(r, UTF8);
      out += line + '\r\n';
    }
    return out;
  }
  const at = (c: ReturnType<typeof floodCut> | undefined) =>
    c && [c.entry, c.offset, c.endEntry, c.endOffset, new TextDecoder().decode(c.prefix)];

  it.each(['plain', 'sgr', 'utf8'] as const)(
    'finds the very cut floodCut finds in %s lines, split anywhere',
    (kind) => {
      for (let seed = 1; seed <= 60; seed++) {
        const r = rng(seed * 104729 + kind.length);
        const o = opts(5 + int(r, 40));
        const chunks = split(enc(lines(r, kind, o.keepDowns + 1 + int(r, 200))), r);
        const skim = skimFloodCut(chunks, o);
        expect(skim, `${kind} seed ${seed}`).toBeDefined(); // the fast path answered: no walk needed
        expect(at(skim), `${kind} seed ${seed}`).toEqual(at(floodCut(chunks, o)));
      }
    },
  );

  it('ends the run where floodCut does, at anything but text, SGR and EL', () => {
    const o = opts(3);
    for (const bad of HOSTILE) {
      const chunks = [enc('\x1b[1mhead\r\n' + 'a\r\n'.repeat(5) + bad + 'b\r\n'.repeat(5))];
      const skim = skimFloodCut(chunks, o);
      if (skim === undefined) continue; // invalid UTF-8: left to the walk, which knows where it starts
      expect(at(skim), JSON.stringify(bad)).toEqual(at(floodCut(chunks, o)));
    }
    // what the walk must decide: invalid UTF-8, too few line feeds (one long line), no CR, a pen of 65 sequences
    expect(skimFloodCut([enc('a\r\n'.repeat(5) + raw(0xff) + 'b\r\n'.repeat(5))], o)).toBeUndefined();
    expect(skimFloodCut([enc('x'.repeat(500) + '\r\n')], o)).toBeUndefined();
    expect(skimFloodCut([enc('a\n'.repeat(10))], o)).toBeUndefined();
    expect(skimFloodCut([enc('\x1b[1m'.repeat(65) + 'a\r\n'.repeat(5))], o)).toBeUndefined();
    expect(skimFloodCut([enc('\x1b[0m' + '\x1b[1m'.repeat(63) + 'a\r\n'.repeat(5))], o)).toBeDefined();
  });

  it('stops the run before a character the input ends inside', () => {
    const bytes = enc('a\r\n'.repeat(6) + '中');
    const chunks = [bytes.subarray(0, bytes.length - 1)];
    expect(at(skimFloodCut(chunks, opts(3)))).toEqual([0, 10, 0, 18, '']);
  });
});
