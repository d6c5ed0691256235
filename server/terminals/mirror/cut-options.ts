// What the flood cut needs to know about a headless terminal's state where a queue of output starts (see
// flood-cut.ts): whether any part of a flood may be skipped from there, and how columns are counted.
import type { Terminal } from '@xterm/headless';
import type { FloodCutOptions } from './flood-cut.js';

/** The parts of xterm's internals read here; any of them absent (xterm changed): nothing is skipped. */
interface CoreInternals {
  buffer?: { scrollTop?: unknown; scrollBottom?: unknown; x?: unknown };
  unicodeService?: { _activeProvider?: object };
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
  const wcwidth = term.unicode.activeVersion === '6' ? sharedWcwidth(core?.unicodeService?._activeProvider) : null;
  const countColumns =
    modes.wraparoundMode && wcwidth !== null && core?._charsetService !== undefined && !core._charsetService.charset;
  return {
    cols: term.cols,
    keepDowns: 2 * term.rows + scrollback + 2,
    startColumn: b.x,
    wcwidth: countColumns ? wcwidth : null,
  };
}

type Wcwidth = (codepoint: number) => number;
const checked = new WeakMap<Wcwidth, boolean>();
/**
 * The Unicode 6 provider's wcwidth as one function for every terminal (it reads only a module-level table), so
 * that floodCut's cache of widths serves them all. Checked once against the provider's own method: a later
 * xterm whose wcwidth needs its instance gets no column counting rather than a crash.
 */
function sharedWcwidth(provider: object | undefined): Wcwidth | null {
  const own = (provider as { wcwidth?: unknown } | undefined)?.wcwidth;
  const shared = provider && (Object.getPrototypeOf(provider) as { wcwidth?: unknown }).wcwidth;
  if (typeof own !== 'function' || own !== shared) return null; // not the provider class's own method
  const f = shared as Wcwidth;
  let ok = checked.get(f);
  if (ok === undefined) {
    try {
      ok = [0x41, 0xe9, 0x301, 0x4e2d, 0x1f600, 0x20000].every((cp) => f(cp) === f.call(provider, cp));
    } catch {
      ok = false; // Swallow: it needs its instance after all; columns are then not counted.
    }
    checked.set(f, ok);
  }
  return ok ? f : null;
}
