// Skipping what a flood scrolls away, so the replay mirror keeps up with `yes`, `cat big.log` or `ls --color -R`.
//
// Parsing every byte into the headless xterm was the bulk of the server's CPU under a flood. But most of a flood
// cannot matter. Take a "run": bytes that only print characters (ASCII or well-formed UTF-8, wide and combining
// ones included), move the cursor within and down the screen (CR, LF, BS, TAB, auto-wrap), erase in the line
// (EL, `CSI K`) or set colours and attributes (SGR, `CSI … m`). Within a run nothing changes modes, charsets,
// tab stops, the scroll region or the title; what a run leaves besides cells is the cursor, the pen (SGR state)
// and xterm's "preceding character" (what a combining mark joins, what REP repeats).
//
// A cut is a point of the run where parsing may start instead of at its beginning. Two parses — the full one,
// and the one that skipped to the cut after a synthesized prefix — agree from the cut on in everything but the
// cursor's row and stale cells:
// - the pen: the prefix replays the SGR sequences of the skipped part from the last one that starts with a
//   reset (its first parameter 0 resets every attribute SGR can set), on top of the pen both had before;
// - the column: a cut at a CR parses the CR (column 0). Elsewhere the column is counted the way xterm's print()
//   counts it (the active Unicode provider's widths and joins, wrap pending as column == cols), and the prefix
//   sets it with CHA; such a cut sits before a character of width ≥ 1 that joins nothing, so the preceding
//   character does not matter to it, and after it both parses have the same one;
// - the preceding character after a CR, LF, BS, TAB or CSI is "none" in both (xterm resets it on every control).
// Every line feed or auto-wrap ("down") then moves both one row down, and at the bottom scrolls one line out. After
// `rows` downs the cursor is on the bottom row in both; `rows + scrollback` more push out every line either of
// them had at that point. So a cut with at least 2·rows + scrollback downs after it in the run leaves exactly
// the state of a full parse — provided the parser was at a clean boundary where the run starts, the scroll
// region is the whole screen, the normal buffer is active, and insert mode and reverse wraparound are off: the
// caller checks those. Counting the column also needs auto-wrap on and no charset mapping (the caller passes no
// `wcwidth` otherwise); then only CRs are cuts.

/** Where parsing may start, what to parse before it, and where the run ends. Positions: (chunk index, offset). */
export interface FloodCut {
  entry: number;
  offset: number;
  /** bytes to parse first: the pen's SGR sequences and, for a cut that is not at a CR, the column (CHA) */
  prefix: Uint8Array;
  endEntry: number;
  endOffset: number;
}

export interface FloodCutOptions {
  cols: number;
  /** downs (line feeds and auto-wraps) a cut must have after it within the run */
  keepDowns: number;
  /** xterm's cursor column where the chunks start (0…cols; cols is a pending wrap) */
  startColumn: number;
  /**
   * wcwidth of xterm's Unicode 6 provider (its default), for counting columns as its print() does; null when
   * another provider is active (or auto-wrap is off, or a charset maps characters): columns are not counted,
   * only CRs are cuts.
   */
  wcwidth: ((codepoint: number) => number) | null;
}

/**
 * SGR sequences since the last reset that a cut may carry in its prefix. A flood that sets attributes without
 * ever resetting them (rare: ls, grep, compilers and journald all reset) makes no cut until its next reset.
 */
export const MAX_PEN_SEQUENCES = 64;
/** A longer SGR or EL sequence ends the run (real ones are well under 40 bytes). */
export const MAX_SEQUENCE_BYTES = 96;

const PRINT = 1;
const LF = 3;
const BS = 4;
const TAB = 5;
const ESC = 6;
const LEAD2 = 7;
const LEAD3 = 8;
const LEAD4 = 9;
/** What each byte is in the ground state; 0 ends the run (other C0 controls, DEL, stray or invalid UTF-8). */
const CLASS = new Uint8Array(256);
CLASS.fill(PRINT, 0x20, 0x7f);
CLASS[0x0a] = LF;
CLASS[0x08] = BS;
CLASS[0x09] = TAB;
CLASS[0x1b] = ESC;
CLASS.fill(LEAD2, 0xc2, 0xe0);
CLASS.fill(LEAD3, 0xe0, 0xf0);
CLASS.fill(LEAD4, 0xf0, 0xf5);

const IN_GROUND = 0;
const IN_ESC = 1;
const IN_CSI = 2;
const IN_UTF8 = 3;

const NOTHING = 0;
const CHAR_DONE = 1;
const SGR_DONE = 2;
const EL_DONE = 3;

/** xterm's UnicodeService property value of a width-1 character that joins nothing (every printable ASCII one). */
const ASCII_PROPS = 1 << 1;
const width = (props: number) => (props >> 1) & 3;

/** Candidate cuts, one per down: (entry, offset, column or -1 at a CR, pen start, pen end). Reused. */
let ring = new Int32Array(0);
/** Every SGR sequence of the run: (start entry, start offset, end entry, end offset exclusive). Reused. */
let penLog = new Int32Array(4 * 1024);

/**
 * In the run that starts at the first byte of `chunks`: the latest cut (see above) with at least `keepDowns`
 * downs after it, or null when there is none.
 */
export function floodCut(chunks: readonly Uint8Array[], opts: FloodCutOptions): FloodCut | null {
  const { cols, keepDowns: keep, wcwidth } = opts;
  const widths = widthCache(wcwidth);
  const slots = keep + 1;
  if (ring.length < slots * 5) ring = new Int32Array(slots * 5);
  ring.fill(-1, 0, slots * 5);
  let penCount = 0;

  let x = wcwidth ? opts.startColumn : -1; // -1: unknown (not counted)
  let prec = -1; // xterm's preceding-character properties; -1: unknown
  let downs = 0;
  let want = true; // no cut recorded since the last down
  let penStart = 0;
  let penEnd = 0;
  let last = -1; // the ring slot of the latest recorded cut

  let mode = IN_GROUND;
  let seqE = 0; // where the escape sequence or UTF-8 character being read starts
  let seqI = 0;
  let seqLen = 0;
  let firstNonZero = false; // the CSI's first parameter is not 0
  let firstDone = false;
  let need = 0; // UTF-8 continuation bytes still to come
  let cp = 0;
  let lo = 0x80;
  let hi = 0xbf;
  let spanned = false; // the character started in an earlier chunk
  let fragile = false; // it has a continuation byte 0x80 before its last byte

  let e = 0;
  // every `break run` ends the run at the sequence or character that starts at (seqE, seqI)
  run: for (; e < chunks.length; e++) {
    const c = chunks[e] as Uint8Array;
    const n = c.length;
    let i = 0;
    while (i < n) {
      // what the bytes read in this step completed (beyond ASCII and controls): a character or a CSI sequence
      let done = NOTHING;
      if (mode === IN_GROUND) {
        // The hot loop: runs of printable ASCII, line feeds, and SGR and EL sequences whole in the chunk.
        while (i < n) {
          let b = c[i] as number;
          if (b >= 0x20 && b < 0x7f) {
            let j = i + 1;
            while (j < n && (b = c[j] as number) >= 0x20 && b < 0x7f) j++;
            prec = ASCII_PROPS;
            if (x < 0) {
              i = j;
              continue;
            }
            const penOk = penEnd - penStart <= MAX_PEN_SEQUENCES;
            if (want && x < cols && (e | i) !== 0 && penOk) {
              record((last = downs % slots), e, i, x, penStart, penEnd);
              want = false;
            }
            // Each character takes one column; the one printed at column cols (a pending wrap) wraps first.
            for (;;) {
              const fit = x >= cols ? 0 : cols - x;
              if (i + fit >= j) {
                x += j - i;
                break;
              }
              i += fit + 1; // the character at i + fit wrapped: now at column 0, then 1
              x = 1;
              carry(last, ++downs % slots);
              want = true;
              if (i < j && penOk) {
                record((last = downs % slots), e, i, x, penStart, penEnd);
                want = false;
              }
            }
            i = j;
          } else if (b === 0x0a) {
            carry(last, ++downs % slots);
            want = true;
            if (x >= cols) x--;
            prec = 0;
            i++;
          } else if (b === 0x0d) {
            if (want && (e | i) !== 0 && penEnd - penStart <= MAX_PEN_SEQUENCES) {
              record((last = downs % slots), e, i, -1, penStart, penEnd);
              want = false;
            }
            x = wcwidth ? 0 : -1;
            prec = 0;
            i++;
          } else if (b === 0x1b && i + 2 < n && c[i + 1] === 0x5b) {
            // an SGR or EL sequence whole in this chunk (anything else: below)
            const limit = Math.min(n, i + MAX_SEQUENCE_BYTES);
            let nonZero = false;
            let j = i + 2;
            for (; j < limit; j++) {
              const p = c[j] as number;
              if (p === 0x3b || p === 0x3a) break;
              if (p < 0x30 || p > 0x39) break;
              if (p !== 0x30) nonZero = true;
            }
            while (j < limit && (((b = c[j] as number) >= 0x30 && b <= 0x39) || b === 0x3b || b === 0x3a)) j++;
            if (j >= limit || (c[j] !== 0x6d && c[j] !== 0x4b)) break;
            if (c[j] === 0x6d) {
              if (!nonZero) penStart = penCount; // starts with a reset: what came before no longer matters
              logPen(penCount, e, i, e, j + 1);
              penEnd = ++penCount;
            } else if (x > cols) x = cols; // EL: only cells of the cursor's line (xterm restricts x to cols first)
            prec = 0;
            i = j + 1;
          } else break;
        }
        if (i >= n) break;
        const b = c[i] as number;
        const k = CLASS[b] as number;
        seqE = e;
        seqI = i;
        if (k === BS) {
          if (x >= 0) {
            x = Math.min(x, cols - 1); // xterm restricts the cursor first: a pending wrap is undone
            if (x > 0) x--;
          }
          prec = 0;
          i++;
        } else if (k === TAB) {
          x = -1; // tab stops are not tracked: the column is unknown until the next CR
          prec = 0;
          i++;
        } else if (k === ESC) {
          // fast path: a whole CSI of parameters in this chunk
          const limit = Math.min(n, i + MAX_SEQUENCE_BYTES);
          let j = i + 2;
          if (i + 1 < n && c[i + 1] === 0x5b /* [ */) {
            firstNonZero = false;
            firstDone = false;
            for (; j < limit; j++) {
              const p = c[j] as number;
              if (p >= 0x30 && p <= 0x39) {
                if (!firstDone && p !== 0x30) firstNonZero = true;
              } else if (p === 0x3b || p === 0x3a) firstDone = true;
              else break;
            }
          }
          if (j < limit) {
            const f = c[j] as number;
            if (c[i + 1] !== 0x5b || (f !== 0x6d && f !== 0x4b)) break run;
            done = f === 0x6d ? SGR_DONE : EL_DONE;
            i = j + 1;
          } else if (limit < n) {
            break run; // too long
          } else {
            mode = IN_ESC; // the chunk ends inside it: byte by byte below, across chunks
            seqLen = 1;
            i++;
          }
        } else if (k >= LEAD2) {
          need = b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
          cp = b & (b < 0xe0 ? 0x1f : b < 0xf0 ? 0x0f : 0x07);
          // well-formed UTF-8 only (no overlong forms, surrogates or code points past U+10FFFF)
          lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
          hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
          spanned = false;
          fragile = false;
          i++;
          if (i + need <= n) {
            // fast path: the whole character is in this chunk
            for (; need > 0; need--, i++) {
              const t = c[i] as number;
              if (t < lo || t > hi) break run;
              lo = 0x80;
              hi = 0xbf;
              cp = (cp << 6) | (t & 0x3f);
            }
            done = CHAR_DONE;
          } else mode = IN_UTF8;
        } else break run;
      } else if (mode === IN_UTF8) {
        const b = c[i] as number;
        if (b < lo || b > hi) break run;
        lo = 0x80;
        hi = 0xbf;
        cp = (cp << 6) | (b & 0x3f);
        i++;
        if (--need > 0) {
          if ((b & 0x3f) === 0) fragile = true;
          continue;
        }
        mode = IN_GROUND;
        done = CHAR_DONE;
      } else {
        const b = c[i] as number;
        if (++seqLen > MAX_SEQUENCE_BYTES) break run;
        i++;
        if (mode === IN_ESC) {
          if (b !== 0x5b /* [ */) break run;
          mode = IN_CSI;
          firstNonZero = false;
          firstDone = false;
        } else if ((b >= 0x30 && b <= 0x39) || b === 0x3b || b === 0x3a) {
          if (b === 0x3b || b === 0x3a) firstDone = true;
          else if (!firstDone && b !== 0x30) firstNonZero = true;
        } else if (b === 0x6d /* m */ || b === 0x4b /* K */) {
          done = b === 0x6d ? SGR_DONE : EL_DONE;
          mode = IN_GROUND;
        } else break run;
      }

      if (done === CHAR_DONE) {
        if (cp < 0xa0) {
          // C2 80…C2 9F: C1 controls (U+009B is CSI), which xterm executes
          break run;
        }
        if (cp === 0xfeff) continue; // xterm's decoder drops a BOM
        if (x < 0 || !wcwidth || (fragile && spanned)) {
          // xterm 6's decoder drops a character split across writes after a continuation byte 0x80 (its check
          // for held bytes stops at a zero byte): the column is unknown, whatever xterm's writes were
          x = -1;
          prec = -1;
          continue;
        }
        // xterm's print() for one character, as far as the column is concerned, with UnicodeV6.charProperties
        let w = cp < 0x10000 ? (widths[cp] as number) : 0xff;
        if (w === 0xff) {
          w = wcwidth(cp);
          if (cp < 0x10000) widths[cp] = w;
        }
        let joins = w === 0 && prec > 0;
        if (joins) {
          const before = width(prec);
          if (before === 0) joins = false;
          else if (before > w) w = before;
        }
        const props = (w << 1) | (joins ? 1 : 0);
        if (prec < 0 && w === 0) {
          // whether it joins depends on the preceding character, not known here
          x = -1;
          prec = -1;
          continue;
        }
        if (want && w > 0 && !joins && x < cols && (seqE | seqI) !== 0 && penEnd - penStart <= MAX_PEN_SEQUENCES) {
          record((last = downs % slots), seqE, seqI, x, penStart, penEnd);
          want = false;
        }
        const oldWidth = joins ? width(prec) : 0;
        if (x + w - oldWidth > cols) {
          x = oldWidth;
          carry(last, ++downs % slots);
          want = true;
        }
        if (joins && x > 0) x += Math.max(0, w - oldWidth);
        else x += w > 0 ? w : 1; // a width-0 character that joins nothing still takes a cell
        prec = props;
      } else if (done === SGR_DONE) {
        if (!firstNonZero) penStart = penCount;
        logPen(penCount, seqE, seqI, e, i);
        penEnd = ++penCount;
        prec = 0;
      } else if (done === EL_DONE) {
        if (x > cols) x = cols; // EL touches only cells of the cursor's line (xterm restricts x to cols first)
        prec = 0;
      }
    }
    spanned = true;
  }
  const ended = e < chunks.length;
  const endE = ended ? seqE : chunks.length - 1;
  const endI = ended ? seqI : endE >= 0 ? (chunks[endE] as Uint8Array).length : 0;
  if (downs < keep) return null;
  const s = ((downs - keep) % slots) * 5;
  if ((ring[s] as number) < 0) return null;
  const at = (k: number) => ring[s + k] as number;
  return {
    entry: at(0),
    offset: at(1),
    prefix: prefixOf(chunks, at(3), at(4), at(2)),
    endEntry: endE,
    endOffset: endI,
  };
}

let widthsOf: ((codepoint: number) => number) | null = null;
let widths = new Uint8Array(0);
/** wcwidth of the BMP, filled in as characters come (0xff: not yet); kept for the same function. */
function widthCache(wcwidth: ((codepoint: number) => number) | null): Uint8Array {
  if (wcwidth && wcwidth !== widthsOf) {
    widthsOf = wcwidth;
    widths = new Uint8Array(0x10000).fill(0xff);
  }
  return widths;
}

/** A down: the slot of the new count starts with the latest cut (a cut after the down will replace it). */
function carry(from: number, slot: number): void {
  if (from < 0 || from === slot) return;
  const [f, s] = [from * 5, slot * 5];
  ring[s] = ring[f] as number;
  ring[s + 1] = ring[f + 1] as number;
  ring[s + 2] = ring[f + 2] as number;
  ring[s + 3] = ring[f + 3] as number;
  ring[s + 4] = ring[f + 4] as number;
}

function logPen(index: number, startEntry: number, start: number, endEntry: number, end: number): void {
  if (index * 4 === penLog.length) {
    const grown = new Int32Array(penLog.length * 2);
    grown.set(penLog);
    penLog = grown;
  }
  const s = index * 4;
  penLog[s] = startEntry;
  penLog[s + 1] = start;
  penLog[s + 2] = endEntry;
  penLog[s + 3] = end;
}

function record(slot: number, e: number, i: number, col: number, penStart: number, penEnd: number): void {
  const s = slot * 5;
  ring[s] = e;
  ring[s + 1] = i;
  ring[s + 2] = col;
  ring[s + 3] = penStart;
  ring[s + 4] = penEnd;
}

function prefixOf(chunks: readonly Uint8Array[], from: number, to: number, col: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let k = from; k < to; k++) {
    const [sE, sI, eE, eI] = penLog.subarray(k * 4, k * 4 + 4) as unknown as [number, number, number, number];
    for (let e = sE; e <= eE; e++)
      parts.push((chunks[e] as Uint8Array).subarray(e === sE ? sI : 0, e === eE ? eI : undefined));
  }
  if (col >= 0) parts.push(new TextEncoder().encode(`\x1b[${col + 1}G`));
  return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
}
