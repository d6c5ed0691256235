// The flood cut's fast path, for the floods people actually make: lines of text, coloured or not, ASCII or UTF-8.
//
// floodCut (flood-cut.ts) walks every byte in JavaScript, counting columns, so that it can also cut inside one
// long wrapped line. That walk was the mirror worker's largest cost after parsing itself (0.3 s per 100 MB of
// plain lines, 0.7 coloured, 0.85 UTF-8), on the two cores the shell, the server and the client share. But a
// cut at a carriage return needs no columns (the CR sets column 0; see flood-cut.ts), and line feeds alone are
// a lower bound of the downs after it (auto-wraps only add to them). So when the run has enough line feeds, the
// cut is found with a few native scans:
// - where the run ends: the first byte that is not text or CR, LF, BS, TAB, ESC (one memchr per such byte
//   value), the first C1 control (C2 80…C2 9F), and the first escape sequence that is not SGR or EL; invalid
//   UTF-8 anywhere (Buffer's native isUtf8) leaves it to the full walk, which knows where it starts;
// - the cut: the CR before the keepDowns-th line feed from the run's end (lastIndexOf);
// - the pen: the SGR sequences before the cut back to the last one that starts with a reset.
// Only the escape sequences are looked at one by one, as the full walk does. Where this path cannot tell (too
// few line feeds: one long line; no CR; invalid UTF-8; more than MAX_PEN_SEQUENCES since a reset) the full walk
// decides, so the cuts stay those flood-cut.ts proves exact, and the property tests run through both.
import { isUtf8 } from 'node:buffer';
import { floodCut, MAX_PEN_SEQUENCES, MAX_SEQUENCE_BYTES, type FloodCut, type FloodCutOptions } from './flood-cut.js';

/** The latest cut this path can prove, else floodCut's (see above). */
export function cutFlood(chunks: readonly Uint8Array[], opts: FloodCutOptions): FloodCut | null {
  return skimFloodCut(chunks, opts) ?? floodCut(chunks, opts);
}

/** Bytes below 0x80 that end a run (floodCut's class 0): C0 controls other than BS, TAB, LF, CR, ESC; and DEL. */
const ENDS_RUN: readonly number[] = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0b, 0x0c, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
  0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1d, 0x1e, 0x1f, 0x7f,
];
const LF = 0x0a;
const CR = 0x0d;
const ESC = 0x1b;
/** Between two escape sequences, look this far byte by byte before asking memchr (a call costs ~30 bytes' worth). */
const NEAR_BYTES = 32;

/** A cut at a CR found with native scans, or undefined when only floodCut's walk can tell. */
export function skimFloodCut(chunks: readonly Uint8Array[], opts: FloodCutOptions): FloodCut | undefined {
  const keep = opts.keepDowns;
  // Cheapest first, before joining the chunks: one long line has too few line feeds, whatever else it holds.
  if (chunks.length === 0 || keep <= 0 || !hasLineFeeds(chunks, keep)) return undefined;
  const buf = joined(chunks);
  let end = buf.length;
  for (const b of ENDS_RUN) {
    const at = buf.subarray(0, end).indexOf(b);
    if (at >= 0) end = at;
  }
  end = trimPartialChar(buf, end);
  if (!isUtf8(buf.subarray(0, end))) return undefined;
  end = firstC1(buf, end);
  end = firstOtherSequence(buf, end);
  const lf = nthLineFeedBack(buf, end, keep);
  if (lf < 0) return undefined;
  const cr = buf.lastIndexOf(CR, lf);
  if (cr <= 0) return undefined; // no CR to cut at, or nothing before it to skip
  const pen = penBefore(buf, cr);
  if (pen === null) return undefined;
  const [entry, offset] = position(chunks, cr);
  const [endEntry, endOffset] =
    end === buf.length ? [chunks.length - 1, lengthOf(chunks.at(-1))] : position(chunks, end);
  return { entry, offset, prefix: pen, endEntry, endOffset };
}

function joined(chunks: readonly Uint8Array[]): Buffer {
  if (chunks.length === 1) {
    const c = chunks[0] as Uint8Array;
    return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  }
  return Buffer.concat(chunks);
}

const lengthOf = (c: Uint8Array | undefined) => c?.length ?? 0;

/** Whether the chunks hold at least n LFs. */
function hasLineFeeds(chunks: readonly Uint8Array[], n: number): boolean {
  let found = 0;
  for (let e = chunks.length - 1; e >= 0; e--) {
    const c = chunks[e] as Uint8Array;
    const view = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    for (let at = view.lastIndexOf(LF); at >= 0; at = at > 0 ? view.lastIndexOf(LF, at - 1) : -1)
      if (++found >= n) return true;
  }
  return false;
}

/** The index of the n-th LF before `end` (n = 1: the last one), or -1. */
function nthLineFeedBack(buf: Buffer, end: number, n: number): number {
  let at = end;
  for (let k = 0; k < n; k++) {
    if (at <= 0) return -1;
    at = buf.lastIndexOf(LF, at - 1);
    if (at < 0) return -1;
  }
  return at;
}

/**
 * `end`, less a UTF-8 character the input stops in the middle of (the host hands the worker clean boundaries, but a
 * queue that waited long enough goes as it is): the run then ends before it, which is still a run.
 */
function trimPartialChar(buf: Buffer, end: number): number {
  for (let k = 1; k <= 3 && end - k >= 0; k++) {
    const b = buf[end - k] as number;
    if (b < 0x80) return end;
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return need > k ? end - k : end;
    }
  }
  return end;
}

/** The first C1 control (U+0080…U+009F, which xterm executes: U+009B is CSI) before `end`, else `end`. */
function firstC1(buf: Buffer, end: number): number {
  for (let at = buf.indexOf(0xc2); at >= 0 && at < end; at = buf.indexOf(0xc2, at + 1)) {
    const next = buf[at + 1] as number;
    if (next >= 0x80 && next <= 0x9f) return at;
  }
  return end;
}

/** The first escape sequence before `end` that is not a whole SGR or EL (CSI digits ; : then m or K). */
function firstOtherSequence(buf: Buffer, end: number): number {
  let at = buf.subarray(0, end).indexOf(ESC);
  while (at >= 0) {
    const after = sequenceEnd(buf, at, end);
    if (after < 0) return at;
    const near = Math.min(end, after + NEAR_BYTES);
    let k = after;
    while (k < near && buf[k] !== ESC) k++;
    if (k < near) at = k;
    else if (near >= end) return end;
    else {
      at = buf.indexOf(ESC, near);
      if (at >= end) return end;
    }
  }
  return end;
}

/** Just past the SGR or EL sequence at `at`, or -1 when it is something else (or runs past `end` or too long). */
function sequenceEnd(buf: Buffer, at: number, end: number): number {
  if (buf[at + 1] !== 0x5b /* [ */) return -1;
  const limit = Math.min(end, at + MAX_SEQUENCE_BYTES);
  let j = at + 2;
  for (; j < limit; j++) {
    const p = buf[j] as number;
    if ((p < 0x30 || p > 0x39) && p !== 0x3b && p !== 0x3a) break;
  }
  if (j >= limit) return -1;
  const f = buf[j];
  return f === 0x6d /* m */ || f === 0x4b /* K */ ? j + 1 : -1;
}

/** An SGR whose first parameter is 0 or empty resets every attribute SGR can set (see flood-cut.ts). */
function startsWithReset(buf: Buffer, at: number): boolean {
  for (let j = at + 2; ; j++) {
    const p = buf[j] as number;
    if (p === 0x3b || p === 0x3a || p === 0x6d) return true;
    if (p !== 0x30) return false;
  }
}

/**
 * The SGR sequences before `cut`, from the last one that starts with a reset, joined: the pen a parse that
 * starts at the cut must be given. null when there are more than MAX_PEN_SEQUENCES of them (floodCut decides).
 * Every sequence before the run's end was checked to be SGR or EL.
 */
function penBefore(buf: Buffer, cut: number): Uint8Array | null {
  const found: [number, number][] = [];
  for (let at = buf.lastIndexOf(ESC, cut - 1); at >= 0; at = at > 0 ? buf.lastIndexOf(ESC, at - 1) : -1) {
    const after = sequenceEnd(buf, at, cut);
    if (after < 0 || buf[after - 1] !== 0x6d) continue; // EL: not part of the pen
    if (found.length === MAX_PEN_SEQUENCES) return null;
    found.push([at, after]);
    if (startsWithReset(buf, at)) break;
  }
  if (found.length === 0) return new Uint8Array(0);
  found.reverse();
  return Buffer.concat(found.map(([from, to]) => buf.subarray(from, to)));
}

/** (chunk index, offset in it) of byte `at` of the joined chunks. */
function position(chunks: readonly Uint8Array[], at: number): [number, number] {
  let start = 0;
  for (let e = 0; e < chunks.length; e++) {
    const n = (chunks[e] as Uint8Array).length;
    if (at < start + n) return [e, at - start];
    start += n;
  }
  return [chunks.length - 1, lengthOf(chunks.at(-1))];
}
