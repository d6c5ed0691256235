// Page helpers: read an xterm buffer through the scripting hook, type into a pane, read pane state.
import type { Locator, Page, TestInfo } from '@playwright/test';
import { expect } from './fixtures.js';

export type PaneName = 'outside' | 'inside';
/** a hooked terminal: the two panes, or the read-only viewer page's `shared` one */
export type TermName = PaneName | 'shared' | 'watched';

const REGION: Record<PaneName, string> = { outside: 'Outside terminal', inside: 'Inside terminal' };

interface HookBuffer {
  length: number;
  getLine(y: number): { isWrapped: boolean; translateToString(trimRight?: boolean): string } | undefined;
}
interface HookWindow {
  nsconsole?: {
    terminals: Partial<Record<TermName, { buffer: { active: HookBuffer }; cols: number; rows: number; focus(): void }>>;
  };
}

export function pane(page: Page, name: PaneName): Locator {
  return page.getByRole('region', { name: REGION[name] });
}

/** The whole buffer (scrollback + screen) of a pane's terminal; rows soft-wrapped by the terminal are rejoined. */
export function terminalText(page: Page, name: TermName): Promise<string> {
  return page.evaluate((n) => {
    const term = (window as unknown as HookWindow).nsconsole?.terminals[n];
    if (!term) return '';
    const buf = term.buffer.active;
    let text = '';
    for (let y = 0; y < buf.length; y++) {
      const line = buf.getLine(y);
      if (!line) continue;
      text += (y > 0 && !line.isWrapped ? '\n' : '') + line.translateToString(!buf.getLine(y + 1)?.isWrapped);
    }
    return text;
  }, name);
}

/** Open the console and wait until both shells are connected and have printed something (a prompt). */
export async function openConsole(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await consoleReady(page);
}

/**
 * Reload the page (one navigation, as a person pressing F5) and wait until both shells are back. Navigating
 * again right after it (e.g. `openConsole`) would be a second page load, which may abort the first load's
 * requests and repeat them.
 */
export async function reloadConsole(page: Page): Promise<void> {
  await page.reload();
  await consoleReady(page);
}

/** Wait until both shells are connected and have printed something (a prompt). */
async function consoleReady(page: Page): Promise<void> {
  for (const name of ['outside', 'inside'] as const) {
    await expect(pane(page, name)).toHaveAttribute('data-status', 'connected', { timeout: 20_000 });
    await expect
      .poll(async () => (await terminalText(page, name)).trim().length, { timeout: 20_000 })
      .toBeGreaterThan(0);
  }
}

/** A hooked terminal's size, or null when it is not there. */
export function terminalSize(page: Page, name: TermName): Promise<{ cols: number; rows: number } | null> {
  return page.evaluate((n) => {
    const term = (window as unknown as HookWindow).nsconsole?.terminals[n];
    return term ? { cols: term.cols, rows: term.rows } : null;
  }, name);
}

/** Wait until the last line of the pane's terminal is a shell prompt (ends with `#` or `$`). */
export async function waitForPrompt(page: Page, name: PaneName, timeout = 15_000): Promise<void> {
  await expect
    .poll(async () => /[#$]$/.test((await terminalText(page, name)).trimEnd()), {
      timeout,
      message: `a prompt in the ${name} terminal`,
    })
    .toBe(true);
}

/** Type a command line into a pane's terminal, as a person would (at the prompt), and press Enter. */
export async function typeLine(page: Page, name: PaneName, line: string): Promise<void> {
  await waitForPrompt(page, name);
  await page.evaluate((n) => (window as unknown as HookWindow).nsconsole?.terminals[n]?.focus(), name);
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/** Wait until the pane's buffer matches `re`, and return the match. */
export async function waitForOutput(
  page: Page,
  name: TermName,
  re: RegExp,
  timeout = 15_000,
): Promise<RegExpMatchArray> {
  let match: RegExpMatchArray | null = null;
  await expect
    .poll(async () => (match = (await terminalText(page, name)).match(re)) !== null, {
      timeout,
      message: `${name} terminal shows ${re}`,
    })
    .toBe(true);
  return match!;
}

/** Count of lines matching `re` so far, to wait for the next one. */
export async function countMatches(page: Page, name: TermName, re: RegExp): Promise<number> {
  const text = await terminalText(page, name);
  return text.split('\n').filter((l) => re.test(l)).length;
}

export async function waitForNewMatch(
  page: Page,
  name: PaneName,
  re: RegExp,
  before: number,
  timeout = 15_000,
): Promise<void> {
  await expect
    .poll(async () => countMatches(page, name, re), {
      timeout,
      message: `a new line matching ${re} in the ${name} terminal`,
    })
    .toBeGreaterThan(before);
}

export function namespaceRow(page: Page, id: string): Locator {
  return page.getByRole('table', { name: 'Namespaces' }).locator(`tbody tr[data-ns-id="${id}"]`);
}

/** A cell of a Namespaces row by lsns column: NS, TYPE, NPROCS, PID, USER, COMMAND, NSFS. */
export function nsCell(row: Locator, column: 'NS' | 'TYPE' | 'NPROCS' | 'PID' | 'USER' | 'COMMAND' | 'NSFS'): Locator {
  const index = ['NS', 'TYPE', 'NPROCS', 'PID', 'USER', 'COMMAND', 'NSFS'].indexOf(column);
  return row.getByRole('cell').nth(index);
}

/** Mounts table rows whose TARGET is exactly `target`. */
export function mountRows(page: Page, target: string): Locator {
  return page
    .getByRole('table', { name: 'Mounts' })
    .locator('tbody tr')
    .filter({
      has: page.locator('td:first-child', {
        hasText: new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`),
      }),
    });
}

export async function snap(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
}
