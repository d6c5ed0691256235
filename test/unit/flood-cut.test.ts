// The flood cut must never change what a replay shows: a terminal that parses only from the cut ends in exactly
// the state of one that parsed everything. Checked on real headless xterms with random prior states and floods.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { floodCut } from '../../server/terminals/mirror/flood-cut.js';

const require = createRequire(import.meta.url);
const { Terminal } = require('@xterm/headless') as typeof import('@xterm/headless');
const { SerializeAddon } = require('@xterm/addon-serialize') as typeof import('@xterm/addon-serialize');

const COLS = 40;
const ROWS = 10;
const SCROLLBACK = 20;
const KEEP = 2 * ROWS + SCROLLBACK + 2; // what the mirror worker keeps

const enc = (s: string) => new TextEncoder().encode(s);

/** A small deterministic PRNG, so a failure names its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Whatever a session printed before: colours, cursor moves, a scroll region set and reset, partial lines. */
function priorState(r: () => number): string {
  const parts: string[] = [];
  for (let i = 0; i < 30; i++) {
    const pick = r();
    if (pick < 0.2) parts.push(`\x1b[${30 + Math.floor(r() * 8)};${40 + Math.floor(r() * 8)}m`);
    else if (pick < 0.35) parts.push(`\x1b[${1 + Math.floor(r() * ROWS)};${1 + Math.floor(r() * COLS)}H`);
    else if (pick < 0.4) parts.push('\x1b[3;6r\x1b[2;1Hin region\n\n\n\x1b[r');
    else if (pick < 0.45) parts.push('\x1b[?1049h alt \x1b[?1049l');
    else parts.push('x'.repeat(Math.floor(r() * 70)) + (r() < 0.7 ? '\r\n' : r() < 0.5 ? '\n' : '\r'));
  }
  return parts.join('');
}

/**
 * Plain text only: lines of any length (some wrap). Half the floods end lines with CR LF (some bare LF or CR
 * overwrites), half mostly with bare LF as with `stty -onlcr` (a CR now and then).
 */
function flood(r: () => number, lines: number): string {
  const crlf = r() < 0.5;
  let out = '';
  for (let i = 0; i < lines; i++) {
    const len = Math.floor(r() * (r() < 0.1 ? 130 : 50));
    let line = '';
    for (let j = 0; j < len; j++) line += String.fromCharCode(0x20 + Math.floor(r() * 95));
    const end = r();
    out += line + (crlf ? (end < 0.85 ? '\r\n' : end < 0.95 ? '\n' : '\r') : end < 0.97 ? '\n' : '\r\n');
  }
  return out;
}

function split(bytes: Uint8Array, r: () => number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + Math.floor(r() * 600);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

function write(term: InstanceType<typeof Terminal>, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => term.write(data, resolve));
}

function newTerm(): { term: InstanceType<typeof Terminal>; ser: InstanceType<typeof SerializeAddon> } {
  const term = new Terminal({ cols: COLS, rows: ROWS, scrollback: SCROLLBACK, allowProposedApi: true });
  const ser = new SerializeAddon();
  term.loadAddon(ser);
  return { term, ser };
}

function stateOf(t: { term: InstanceType<typeof Terminal>; ser: InstanceType<typeof SerializeAddon> }) {
  const b = t.term.buffer.active;
  return { screen: t.ser.serialize(), x: b.cursorX, y: b.cursorY, length: b.length, base: b.baseY };
}

describe('floodCut', () => {
  it('finds no cut without enough line feeds after a carriage return', () => {
    expect(floodCut([enc('a\r\nb\r\n')], 2)).toBeNull();
    expect(floodCut([enc('a\nb\nc\nd\n')], 1)).toBeNull(); // bare line feeds never make a cut
    expect(floodCut([enc('head\r\n' + 'abc\n'.repeat(3))], 4)).toBeNull(); // only 3 after the CR that starts it
    expect(floodCut([], 1)).toBeNull();
  });

  it('cuts at the latest carriage return that keeps enough line feeds, across chunks', () => {
    expect(floodCut([enc('a\r\nb\r\nc\r\nd\r\n')], 2)).toEqual({ entry: 0, offset: 7, endEntry: 0, endOffset: 12 });
    expect(floodCut([enc('a\r'), enc('\nb\r\n'), enc('c\r\nd\r\n')], 2)).toEqual({
      entry: 2,
      offset: 1,
      endEntry: 2,
      endOffset: 6,
    });
    expect(floodCut([enc('xx\r\n' + 'abc\n'.repeat(5))], 4)).toEqual({
      entry: 0,
      offset: 2,
      endEntry: 0,
      endOffset: 24,
    });
  });

  it('stops the run at the first byte that is not plain text', () => {
    const cut = floodCut([enc('a\r\nb\r\nc\r\n\x1b[31md\r\ne\r\nf\r\ng\r\n')], 1);
    expect(cut).toEqual({ entry: 0, offset: 7, endEntry: 0, endOffset: 9 });
    expect(floodCut([enc('\x1b[31ma\r\nb\r\nc\r\n')], 1)).toBeNull(); // the run must start at the first byte
    expect(floodCut([enc('é\r\nb\r\nc\r\n')], 1)).toBeNull(); // non-ASCII ends it too
  });

  it('leaves exactly the state a full parse leaves (200 random prior states and floods)', async () => {
    let skipped = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const before = priorState(r);
      const text = enc(flood(r, 20 + Math.floor(r() * 200)));
      const full = newTerm();
      const cutOnly = newTerm();
      await write(full.term, before);
      await write(cutOnly.term, before);
      const chunks = split(text, r);
      for (const c of chunks) await write(full.term, c);
      // what the mirror worker checks before cutting (the prior states here always end in one)
      const core = (cutOnly.term as unknown as { _core: { buffer: { scrollTop: number; scrollBottom: number } } })
        ._core;
      expect(
        cutOnly.term.buffer.active.type === 'normal' &&
          core.buffer.scrollTop === 0 &&
          core.buffer.scrollBottom === ROWS - 1,
      ).toBe(true);
      const cut = floodCut(chunks, KEEP);
      if (cut) {
        skipped++;
        for (let e = cut.entry; e < chunks.length; e++)
          await write(
            cutOnly.term,
            e === cut.entry ? (chunks[e] as Uint8Array).subarray(cut.offset) : (chunks[e] as Uint8Array),
          );
      } else for (const c of chunks) await write(cutOnly.term, c);
      expect(stateOf(cutOnly), `seed ${seed}`).toEqual(stateOf(full));
      full.term.dispose();
      cutOnly.term.dispose();
    }
    expect(skipped).toBeGreaterThan(60); // the property was exercised, not vacuously true
  });
});
