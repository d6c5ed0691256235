// An idle replay mirror's scrollback, compressed in place.
//
// A headless xterm keeps every line of screen and scrollback as a BufferLine whose cells are a Uint32Array of 3
// words each (content, foreground, background): 1.4 MB for 1,000 lines of 120 columns, whatever they contain, in
// every session, for a scrollback that nothing reads until a client reconnects. Freezing packs the cell words of
// the scrollback lines (the rows above the screen of the normal buffer) into one deflated block and leaves each
// BufferLine object in place with an empty `_data` and length 0; thawing puts the very same words back. Nothing
// else of a line changes (its wrap flag, combined characters and extended attributes stay on the object), so a
// thawed terminal is the never-frozen one, cell for cell, and the serialized replay is the same bytes.
//
// Why this is safe while output goes on: a write reaches a scrollback line only when the buffer is full and its
// oldest line is recycled for a new one, and BufferLine.copyFrom then sees a length that differs from the blank
// line's and gives it fresh cells: the frozen content was being dropped anyway. Lines only ever leave the
// scrollback for the screen on a resize, and reflow reads every line: the caller thaws before a resize and before
// it serializes. ED 3 and RIS drop scrollback lines without reading them; the next freeze finds their block dead.
//
// This reads xterm's internals (BufferSet, CircularList, BufferLine fields); if any of them is not as expected,
// nothing is frozen and the mirror only keeps its memory.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Terminal } from '@xterm/headless';

/** The parts of a BufferLine read and written here. */
interface LineInternals {
  _data: Uint32Array;
  length: number;
}

interface BufferInternals {
  ybase: number;
  lines: { length: number; get(index: number): LineInternals | undefined };
}

/** Words per cell in a BufferLine (xterm's CELL_SIZE). */
const CELL_WORDS = 3;
/**
 * Fewer new scrollback lines than this wait for the next freeze: a block costs a deflate call and ~200 bytes,
 * and a line of 120 cells is 1.4 kB, so blocks of a few dozen lines already pay; typing a few lines between
 * pauses then costs nothing.
 */
export const FREEZE_MIN_LINES = 64;
/**
 * zlib level 1 over the cell words regrouped by kind (all contents, then all foregrounds, then all backgrounds):
 * measured on 1,000 lines of 120 columns, ~1 ms to deflate and 1 ms to inflate, 16–26 kB for coloured, UTF-8 and
 * mixed lines (raw words at level 1: 25–132 kB and up to 4.5 ms; level 6: 16–19 kB but 4–7 ms).
 */
const DEFLATE_LEVEL = 1;

interface Block {
  /** the empty `_data` every line frozen in this block holds while it is frozen here */
  sentinel: Uint32Array;
  lines: LineInternals[];
  lengths: Int32Array;
  cells: number;
  packed: Buffer;
}

function normalBuffer(term: Terminal): BufferInternals | null {
  const core = (term as unknown as { _core?: { buffers?: { normal?: Partial<BufferInternals> } } })._core;
  const b = core?.buffers?.normal;
  if (!b || typeof b.ybase !== 'number' || typeof b.lines?.get !== 'function') return null;
  return b as BufferInternals;
}

/** A line this module can freeze: cells as xterm 6 keeps them. */
function isLive(line: LineInternals | undefined): line is LineInternals {
  return (
    line !== undefined &&
    line._data instanceof Uint32Array &&
    line.length > 0 &&
    line._data.length === line.length * CELL_WORDS
  );
}

export class ScrollbackFreezer {
  private blocks = new Map<Uint32Array, Block>();

  constructor(private readonly term: Terminal) {}

  /** scrollback lines held compressed (including any that output has since dropped) */
  get frozenLines(): number {
    let n = 0;
    for (const b of this.blocks.values()) n += b.lines.length;
    return n;
  }

  /** scrollback lines holding their cells (not frozen) */
  get liveLines(): number {
    const b = normalBuffer(this.term);
    if (!b) return 0;
    let n = 0;
    for (let i = 0; i < Math.min(b.ybase, b.lines.length); i++) if (isLive(b.lines.get(i))) n++;
    return n;
  }

  /** bytes of compressed cells */
  get packedBytes(): number {
    let n = 0;
    for (const b of this.blocks.values()) n += b.packed.length;
    return n;
  }

  /**
   * Compresses the scrollback lines not frozen yet (if there are FREEZE_MIN_LINES of them), drops blocks whose
   * lines are all gone and repacks those mostly gone. The terminal must be idle (no write in progress). Returns
   * the bytes of cell words it released.
   */
  freeze(): number {
    const b = normalBuffer(this.term);
    if (!b) return 0;
    const scrollback = Math.min(b.ybase, b.lines.length);
    const live = new Map<Block, number>();
    for (let i = 0; i < scrollback; i++) {
      const block = this.blockOf(b.lines.get(i));
      if (block) live.set(block, (live.get(block) ?? 0) + 1);
    }
    let repacked = false;
    for (const block of [...this.blocks.values()]) {
      const n = live.get(block) ?? 0;
      if (n === 0) this.blocks.delete(block.sentinel);
      else if (2 * n < block.lines.length) {
        this.restore(block); // mostly dropped by output since: its remaining lines go into the new block
        repacked = true;
      }
    }
    const fresh: LineInternals[] = [];
    for (let i = 0; i < scrollback; i++) {
      const line = b.lines.get(i);
      if (!this.blockOf(line) && isLive(line)) fresh.push(line);
    }
    if (fresh.length === 0 || (fresh.length < FREEZE_MIN_LINES && !repacked)) return 0;
    return this.pack(fresh);
  }

  /** Puts every frozen line's cells back: before anything that reads the scrollback (serialize, resize). */
  thaw(): void {
    for (const block of this.blocks.values()) this.restore(block);
  }

  dispose(): void {
    this.blocks.clear();
  }

  private blockOf(line: LineInternals | undefined): Block | undefined {
    return line && line._data.length === 0 ? this.blocks.get(line._data) : undefined;
  }

  private pack(lines: LineInternals[]): number {
    const lengths = new Int32Array(lines.length);
    let cells = 0;
    for (let i = 0; i < lines.length; i++) cells += lengths[i] = (lines[i] as LineInternals).length;
    // Regrouped by kind: runs of equal colours and similar characters compress far better than interleaved.
    const words = new Uint32Array(cells * CELL_WORDS);
    let at = 0;
    for (const line of lines) {
      const d = line._data;
      for (let c = 0; c < line.length; c++, at++) {
        words[at] = d[c * CELL_WORDS] as number;
        words[cells + at] = d[c * CELL_WORDS + 1] as number;
        words[2 * cells + at] = d[c * CELL_WORDS + 2] as number;
      }
    }
    const sentinel = new Uint32Array(0);
    const packed = deflateRawSync(words, { level: DEFLATE_LEVEL });
    for (const line of lines) {
      line._data = sentinel;
      line.length = 0;
    }
    this.blocks.set(sentinel, { sentinel, lines, lengths, cells, packed });
    return words.byteLength;
  }

  private restore(block: Block): void {
    this.blocks.delete(block.sentinel);
    if (!block.lines.some((line) => line._data === block.sentinel)) return;
    const raw = inflateRawSync(block.packed);
    // A view needs 4-byte alignment; zlib's output normally has its own ArrayBuffer, else it is copied.
    const bytes = raw.byteOffset % 4 === 0 ? raw : new Uint8Array(raw);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const cells = block.cells;
    let at = 0;
    for (let i = 0; i < block.lines.length; i++) {
      const line = block.lines[i] as LineInternals;
      const length = block.lengths[i] as number;
      if (line._data === block.sentinel) {
        // Each line its own ArrayBuffer: BufferLine.resize may grow a line into the rest of its buffer.
        const d = new Uint32Array(length * CELL_WORDS);
        for (let c = 0; c < length; c++) {
          d[c * CELL_WORDS] = words[at + c] as number;
          d[c * CELL_WORDS + 1] = words[cells + at + c] as number;
          d[c * CELL_WORDS + 2] = words[2 * cells + at + c] as number;
        }
        line._data = d;
        line.length = length;
      }
      at += length;
    }
  }
}
