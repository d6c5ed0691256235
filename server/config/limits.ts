// What one user and one session may hold on the server (issues #12 and #16): the defaults of
// --max-sessions-per-user and --screen-memory, and the size a session's terminal is narrowed to so that its
// replay screen stays within its cell budget whatever size a client asks for.
import { MAX_COLS, MAX_ROWS } from '../../shared/constants.js';

/**
 * 16 per user: the UI opens two panes, and a reload or a new tab starts new shells while the old ones live out
 * their grace period (60 s), so a busy learner holds a handful; 16 leaves room for that and still lets four
 * learners at the cap share the default --max-sessions 64 (the operator of a class of N sets --max-sessions to
 * N × this, or lowers this). The token holder (the operator, or without --auth-header the only user) is exempt.
 */
export const DEFAULT_MAX_SESSIONS_PER_USER = 16;

/** The replay screen (xterm's headless buffer) stores a cell in 3 × 32 bits: cols × (rows + scrollback) × 12 bytes. */
export const SCREEN_CELL_BYTES = 12;
/**
 * 8 MiB = 699,050 cells: at the default 1000 lines of scrollback a 466×500 terminal (or 582×200) still fits, so no
 * real window is narrowed, while the largest size the protocol allows (1000×500) would take 18 MB. With the default
 * 16 sessions per user that bounds one user's replay screens at 128 MiB.
 */
export const DEFAULT_SCREEN_MEMORY_MIB = 8;
const MIB = 1024 * 1024;
export const DEFAULT_SCREEN_CELLS = Math.floor((DEFAULT_SCREEN_MEMORY_MIB * MIB) / SCREEN_CELL_BYTES);
/**
 * A maximised window on a 1080p screen (1920 px at ~8 px a column, 1080 px at ~17 px a line). The default budget
 * always holds it, so an operator who raises --scrollback gets a budget that grows with it rather than terminals
 * narrowed to a strip (--scrollback 10000: 240 × 10060 cells, 28 MiB).
 */
export const ROOMY_SCREEN = { cols: 240, rows: 60 } as const;
/** An explicit --screen-memory must hold at least the default terminal size (80×24) with its scrollback. */
export const MIN_SCREEN = { cols: 80, rows: 24 } as const;

const cellsOf = (screen: { cols: number; rows: number }, scrollback: number) =>
  screen.cols * (screen.rows + scrollback);

/** The budget when --screen-memory is not given: 8 MiB, or more when ROOMY_SCREEN with `scrollback` needs it. */
export const defaultScreenCells = (scrollback: number): number =>
  Math.max(DEFAULT_SCREEN_CELLS, cellsOf(ROOMY_SCREEN, scrollback));

/** Whether a budget of `cells` holds the MIN_SCREEN terminal with `scrollback` lines. */
export const screenFits = (cells: number, scrollback: number): boolean => cellsOf(MIN_SCREEN, scrollback) <= cells;

/** The least --screen-memory (MiB) that holds the MIN_SCREEN terminal with `scrollback` lines. */
export const minScreenMemoryMib = (scrollback: number): number =>
  Math.ceil((cellsOf(MIN_SCREEN, scrollback) * SCREEN_CELL_BYTES) / MIB);

/** MiB (the flag) → cells (the budget). */
export const screenCellsOfMib = (mib: number): number => Math.floor((mib * MIB) / SCREEN_CELL_BYTES);

/** The fewest columns a narrowed terminal keeps (the protocol's own minimum, shared/api.ts ColsSchema). */
const MIN_COLS = 2;

/**
 * The size a session takes when a writer asks for `cols`×`rows`: the same when cols × (rows + scrollback) fits in
 * `cells`, else narrowed (the height kept: the scrollback dominates the product, so only the width bounds it).
 * A budget that passed the config check (screenFits) narrows at most to 3 columns at MAX_ROWS.
 */
export function fitScreen(
  cols: number,
  rows: number,
  budget: { scrollback: number; cells: number },
): { cols: number; rows: number } {
  const lines = Math.min(rows, MAX_ROWS) + budget.scrollback;
  const widest = Math.max(MIN_COLS, Math.floor(budget.cells / lines));
  return { cols: Math.min(cols, widest, MAX_COLS), rows: Math.min(rows, MAX_ROWS) };
}
