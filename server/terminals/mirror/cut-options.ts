// What the flood cut needs to know about a headless terminal's state where a queue of output starts (see
// flood-cut.ts): whether any part of a flood may be skipped from there, and how columns are counted.
import type { Terminal } from '@xterm/headless';
import type { FloodCutOptions } from './flood-cut.js';

/** The parts of xterm's internals read here; any of them absent (xterm changed): nothing is skipped. */
interface CoreInternals {
  buffer?: { scrollTop?: unknown; scrollBottom?: unknown; x?: unknown };
  unicodeService?: { wcwidth?: unknown };
  _charsetService?: { charset?: unknown };
}

/**
 * Options for floodCut over output that `term` (idle: everything given to it parsed) has yet to parse, or null
 * when no part of a flood may be skipped from this state. `scrollback` is the terminal's scrollback option.
 */
export function cutOptions(term: Terminal, scrollback: number): FloodCutOptions | null {
  const core = (term as unknown as { _core?: CoreInternals })._core;
  const b = core?.buffer;
  if (!b || typeof b.scrollTop !== 'number' || typeof b.x !== 'number') return null;
  const modes = term.modes;
  if (
    term.buffer.active.type !== 'normal' ||
    b.scrollTop !== 0 ||
    b.scrollBottom !== term.rows - 1 ||
    modes.insertMode ||
    modes.reverseWraparoundMode
  )
    return null;
  // Columns are counted only as xterm 6's default provider counts them, with auto-wrap and no charset mapping.
  const unicode = core?.unicodeService;
  const countColumns =
    modes.wraparoundMode &&
    term.unicode.activeVersion === '6' &&
    typeof unicode?.wcwidth === 'function' &&
    core?._charsetService !== undefined &&
    !core._charsetService.charset;
  return {
    cols: term.cols,
    keepDowns: 2 * term.rows + scrollback + 2,
    startColumn: b.x,
    wcwidth: countColumns ? boundWcwidth(unicode as object) : null,
  };
}

const bound = new WeakMap<object, (codepoint: number) => number>();
/** The service's wcwidth, the same function every time (floodCut caches widths per function). */
function boundWcwidth(unicode: object): (codepoint: number) => number {
  let f = bound.get(unicode);
  if (!f) {
    f = (unicode as { wcwidth: (codepoint: number) => number }).wcwidth.bind(unicode);
    bound.set(unicode, f);
  }
  return f;
}
