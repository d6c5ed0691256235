// Issue #9, the lesson panel: every shipped lesson completed through its "Run in …" buttons (each step turns
// `passed` from kernel state), the first one also typed by hand, a wrong step staying pending with its reason,
// `/?lesson=ID`, progress across a reload, and "Reset lesson" leaving nothing behind — checked from this process
// against /proc and the workspace on disk, not through the UI.
import { readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { test, expect, mountsUnder, removeTree, type ServerInfo } from './fixtures.js';
import {
  countMatches,
  openConsole,
  pane,
  reloadConsole,
  snap,
  terminalText,
  typeLine,
  waitForNewMatch,
  waitForPrompt,
  type PaneName,
} from './console.js';

const REPO = resolve(import.meta.dirname, '../..');
/** The shipped lessons: one test each (the file name is the lesson id). */
const LESSON_IDS = readdirSync(resolve(REPO, 'lessons'))
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => f.replace(/\.ya?ml$/, ''))
  .sort();
/** A step's checks run when the kernel reports a change; generous for a machine shared with other test runs. */
const STEP_TIMEOUT_MS = 20_000;
/** Reset ends processes (waiting for them to leave /proc) and unmounts one mount at a time: slow on a busy machine. */
const RESET_TIMEOUT_MS = 30_000;
/** Poll a terminal often: a lesson is dozens of commands, and the default back-off waits up to 1 s per check. */
const FAST_POLL = [50, 100, 200];
/** A whole lesson is many commands, each waited for: more than the default 90 s on a busy machine. */
const LESSON_TEST_TIMEOUT_MS = 240_000;

interface LessonDetail {
  id: string;
  variables: Record<string, string>;
  steps: { commands: { pane: PaneName; text: string }[]; hints: string[] }[];
}

async function api<T>(server: ServerInfo, method: string, path: string): Promise<T> {
  const res = await fetch(server.origin + path, { method, headers: { authorization: `Bearer ${server.token}` } });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

function lessonRegion(page: Page): Locator {
  return page.getByRole('region', { name: 'Lesson' });
}

function steps(page: Page): Locator {
  return lessonRegion(page).getByRole('list', { name: 'Steps' }).getByRole('listitem');
}

function escapeRe(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
}

/** Open the console with `?lesson=ID` and wait for the panel and both shells. */
async function openLesson(page: Page, server: ServerInfo, id: string): Promise<void> {
  await openConsole(page, `${server.url}&lesson=${id}`);
  await expect(steps(page).first()).toBeVisible();
}

/** Click the Run button of each command of a step, waiting after each for the shell to echo it and prompt again. */
async function runStep(page: Page, step: Locator): Promise<void> {
  const commands = step.locator('.command');
  const n = await commands.count();
  for (let i = 0; i < n; i++) {
    const cmd = commands.nth(i);
    const text = (await cmd.locator('code').textContent())!;
    const button = cmd.getByRole('button', { name: /^Run in (Outside|Inside)$/ });
    const paneName: PaneName = (await button.textContent())!.includes('Outside') ? 'outside' : 'inside';
    await waitForPrompt(page, paneName);
    const before = await countMatches(page, paneName, escapeRe(text));
    await button.click();
    await expect
      .poll(() => countMatches(page, paneName, escapeRe(text)), { intervals: FAST_POLL, timeout: 15_000 })
      .toBeGreaterThan(before);
    await expect
      .poll(async () => /[#$]$/.test((await terminalText(page, paneName)).trimEnd()), {
        intervals: FAST_POLL,
        timeout: 15_000,
      })
      .toBe(true);
  }
}

/** A process as a (pid, start time) pair: a PID reused by another process afterwards is not mistaken for it. */
interface ProcId {
  pid: number;
  start: string;
}

function startTime(pid: number): string | null {
  try {
    // /proc/PID/stat field 22 (starttime); fields are counted after the ")" that closes the command name
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null; // Swallow: it exited
  }
}

/**
 * The processes now in any of these namespaces (`mnt:[4026532315]`, `uts:[…]`), from /proc. Taken before the
 * reset: a namespace inode is reused as soon as it is freed (other tests on this machine make namespaces too),
 * so afterwards it may name someone else's namespace; these exact processes must be gone.
 */
function processesIn(namespaces: string[]): ProcId[] {
  const want = new Set(namespaces);
  const types = [...new Set(namespaces.map((n) => n.split(':')[0]!))];
  const found: ProcId[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const inOne = types.some((t) => {
      try {
        return want.has(readlinkSync(`/proc/${e}/ns/${t}`));
      } catch {
        return false; // Swallow: the process exited while we looked, or is PID 1 (EACCES): neither is the lesson's
      }
    });
    const start = inOne ? startTime(Number(e)) : null;
    if (start !== null) found.push({ pid: Number(e), start });
  }
  return found;
}

const stillRunning = (procs: ProcId[]) => procs.filter((p) => startTime(p.pid) === p.start).map((p) => p.pid);

/** Namespaces persisted (nsfs-bound) under `dir`, as readlink names them (`mnt:[4026532315]`). */
function persistedUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.includes('nsfs') && f[f.indexOf('-') + 1] === 'nsfs' && (f[4] ?? '').startsWith(dir + '/'))
    .map((f) => f[3]!);
}

/**
 * The Mounts table's PEERS column names the other side's copy of a mount whose copy joined its peer group
 * (`unshare --propagation unchanged`): the relation mountinfo gives only as two equal `shared:N`.
 */
async function expectPeersShown(page: Page, target: string): Promise<void> {
  const mounts = page.getByRole('table', { name: 'Mounts' });
  const col = (await mounts.getByRole('columnheader').allTextContents()).indexOf('PEERS');
  expect(col, 'a PEERS column').toBeGreaterThan(0);
  const row = mounts.getByRole('row').filter({ has: page.getByRole('cell', { name: target, exact: true }) });
  await expect(row.getByRole('cell').nth(col)).toHaveText(
    new RegExp(`^⇄ outside ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
  );
  await expect(row.getByRole('cell').nth(col)).toHaveAttribute(
    'title',
    new RegExp(`peer of outside .* \\(shared:\\d+\\)`),
  );
}

/** Click "Reset lesson" and check, from this process, that nothing of the lesson is left. */
async function expectResetLeftNothing(page: Page, work: string): Promise<void> {
  const procs = processesIn(persistedUnder(work));
  expect(procs.length, 'processes in the namespaces persisted in the workspace, before the reset').toBeGreaterThan(0);
  await lessonRegion(page).getByRole('button', { name: 'Reset lesson' }).click();
  await expect(lessonRegion(page).getByRole('status', { name: 'Reset report' })).toBeVisible({
    timeout: RESET_TIMEOUT_MS,
  });
  for (const s of await steps(page).all()) await expect(s).toHaveAttribute('data-state', 'pending');
  expect(mountsUnder(work), 'mounts (nsfs binds included) under the workspace').toEqual([]);
  expect(existsSync(work) ? readdirSync(work) : [], 'files in the workspace').toEqual([]);
  await expect.poll(() => stillRunning(procs), { message: 'processes that were in the lesson namespaces' }).toEqual([]);
}

test.describe('lessons', () => {
  let workRoot = '';

  test.afterEach(() => {
    if (workRoot) removeTree(workRoot); // the server's lesson workspaces: lazily unmount what is left, rm -rf
    workRoot = '';
  });

  for (const id of LESSON_IDS) {
    test(`${id}: completed by its Run buttons, then Reset lesson leaves nothing`, async ({
      page,
      server,
    }, testInfo) => {
      test.setTimeout(LESSON_TEST_TIMEOUT_MS);
      const detail = await api<LessonDetail>(server, 'GET', `/api/lessons/${id}`);
      const work = detail.variables.WORK!;
      workRoot = dirname(work);
      if (id === 'mount-namespaces') await page.setViewportSize({ width: 1280, height: 800 }); // done at 1280×800 too
      await openLesson(page, server, id);
      await expect(lessonRegion(page)).toBeVisible();
      const count = await steps(page).count();
      expect(count).toBe(detail.steps.length);
      for (let i = 0; i < count; i++) {
        const step = steps(page).nth(i);
        await expect(step).toHaveAttribute('data-state', 'pending');
        await runStep(page, step);
        await expect(step).toHaveAttribute('data-state', 'passed', { timeout: STEP_TIMEOUT_MS });
        if (id === 'mount-namespaces' && i === 2) await snap(page, testInfo, 'mid-lesson-1280'); // docs/lesson-screenshot.png
        if (id === 'mount-propagation' && i === 2) await expectPeersShown(page, `${work}/shared`);
      }
      await snap(page, testInfo, 'all-passed');
      await expectResetLeftNothing(page, work);
    });
  }

  test('mount-namespaces typed by hand (opened from the Lessons menu); a reload keeps progress', async ({
    page,
    server,
  }, testInfo) => {
    test.setTimeout(LESSON_TEST_TIMEOUT_MS);
    const detail = await api<LessonDetail>(server, 'GET', '/api/lessons/mount-namespaces');
    const work = detail.variables.WORK!;
    workRoot = dirname(work);
    await openConsole(page, server.url);
    await expect(lessonRegion(page)).toHaveCount(0);
    await page.getByRole('button', { name: 'Lessons' }).click();
    await page
      .getByRole('menu', { name: 'Lessons' })
      .getByRole('menuitem')
      .filter({ hasText: 'Mount namespaces' })
      .click();
    await expect(lessonRegion(page)).toBeVisible();
    expect(new URL(page.url()).searchParams.get('lesson')).toBe('mount-namespaces');
    const count = await steps(page).count();
    for (let i = 0; i < count; i++) {
      const step = steps(page).nth(i);
      await expect(step).toHaveAttribute('data-state', 'pending');
      for (const cmd of detail.steps[i]!.commands) {
        const before = await countMatches(page, cmd.pane, escapeRe(cmd.text));
        await typeLine(page, cmd.pane, cmd.text);
        await waitForNewMatch(page, cmd.pane, escapeRe(cmd.text), before);
      }
      await expect(step).toHaveAttribute('data-state', 'passed', { timeout: STEP_TIMEOUT_MS });
      if (i === 1) {
        // Mid-lesson, the Inside shell inside the new namespace: a reload reattaches both shells and the lesson.
        await reloadConsole(page);
        await expect(lessonRegion(page)).toBeVisible();
        await expect(steps(page).nth(0)).toHaveAttribute('data-state', 'passed');
        await expect(steps(page).nth(1)).toHaveAttribute('data-state', 'passed');
        await expect(steps(page).nth(2)).toHaveAttribute('data-state', 'pending');
        await snap(page, testInfo, 'after-reload');
      }
    }
    await expectResetLeftNothing(page, work);
  });

  test('a wrong or skipped step stays pending with its reason; Hint reveals the hints', async ({
    page,
    server,
  }, testInfo) => {
    const detail = await api<LessonDetail>(server, 'GET', '/api/lessons/mount-namespaces');
    const work = detail.variables.WORK!;
    workRoot = dirname(work);
    await openLesson(page, server, 'mount-namespaces');
    const [first, second] = [steps(page).nth(0), steps(page).nth(1)];

    // Step 1 done wrong: the directory and the file, but no private bind mount of the directory.
    await typeLine(page, 'outside', `mkdir -p ${work}/mntns ${work}/mnt && touch ${work}/mntns/1`);
    await expect(first.getByTestId('step-reason')).toContainText(/\S/, { timeout: STEP_TIMEOUT_MS });
    await expect(first).toHaveAttribute('data-state', 'pending');
    const reason = (await first.getByTestId('step-reason').textContent())!;
    expect(reason).toMatch(/mntns/);

    // Step 2 skipped to: its command runs, but a step is checked only once every step before it has passed.
    await runStep(page, second);
    await expect(first).toHaveAttribute('data-state', 'pending');
    await expect(second).toHaveAttribute('data-state', 'pending');
    await expect(second.getByTestId('step-reason')).toHaveCount(0);
    await expect(first.getByTestId('step-reason')).toBeVisible();
    await snap(page, testInfo, 'wrong-step');

    // Hints, one per click.
    const hints = detail.steps[0]!;
    const hintButton = first.getByRole('button', { name: 'Hint' });
    for (let n = 1; n <= hints.hints.length; n++) {
      await hintButton.click();
      await expect(first.getByRole('group', { name: 'Hints for step 1' }).locator('p')).toHaveCount(n);
    }
    await expect(hintButton).toBeDisabled();

    await expectResetLeftNothing(page, work);
  });

  test('at 1280×800 the lesson, both terminals, Namespaces and Mounts are all in view', async ({
    page,
    server,
  }, testInfo) => {
    const detail = await api<LessonDetail>(server, 'GET', '/api/lessons/mount-namespaces');
    workRoot = dirname(detail.variables.WORK!);
    await page.setViewportSize({ width: 1280, height: 800 });
    await openLesson(page, server, 'mount-namespaces');
    const region = lessonRegion(page);
    for (const l of [
      region,
      region.getByRole('button', { name: 'Reset lesson' }),
      steps(page).first().getByRole('heading'),
      steps(page).first().getByRole('button', { name: 'Run in Outside' }).first(),
      pane(page, 'outside'),
      pane(page, 'inside'),
      pane(page, 'outside').getByTestId('where'),
      pane(page, 'inside').getByTestId('where'),
      page.getByRole('table', { name: 'Namespaces' }).locator('thead'),
      page.getByRole('table', { name: 'Namespaces' }).locator('tbody tr').first(),
      page.getByRole('table', { name: 'Mounts' }).locator('thead'),
      page.getByRole('table', { name: 'Mounts' }).locator('tbody tr').first(),
      page.getByRole('button', { name: 'New namespace' }),
    ]) {
      await expect(l).toBeInViewport({ ratio: 0.9 });
    }
    // The steps and the tables scroll within their panels: their heads and first rows are in view (above).
    // Side by side, not overlapping; the terminals wide enough for a command line.
    const lesson = (await region.boundingBox())!;
    const outside = (await pane(page, 'outside').boundingBox())!;
    const inside = (await pane(page, 'inside').boundingBox())!;
    expect(outside.x).toBeGreaterThanOrEqual(lesson.x + lesson.width - 1);
    expect(inside.x).toBeGreaterThan(outside.x + outside.width - 1);
    for (const name of ['outside', 'inside'] as const) {
      await expect(pane(page, name).getByTestId('where')).toContainText(/mnt:\[\d+\]/);
      const where = pane(page, name).getByTestId('where').locator('code');
      // the namespace in the header is shown whole, not cut by its (clipping) parent
      expect(
        await where.evaluate(
          (el) => el.getBoundingClientRect().right <= el.parentElement!.getBoundingClientRect().right + 0.5,
        ),
      ).toBe(true);
      expect(await where.evaluate((el) => el.scrollWidth <= el.clientWidth + 0.5)).toBe(true);
    }
    const cols = await page.evaluate(
      () =>
        (window as unknown as { nsconsole: { terminals: { outside: { cols: number } } } }).nsconsole.terminals.outside
          .cols,
    );
    expect(cols).toBeGreaterThanOrEqual(50);
    await snap(page, testInfo, 'lesson-1280x800');
    // Closing the panel gives the console its whole width back, and leaves the address without ?lesson.
    await region.getByRole('button', { name: 'Close lesson' }).click();
    await expect(region).toHaveCount(0);
    expect(new URL(page.url()).searchParams.get('lesson')).toBeNull();
  });

  test('a pane that gets a new shell (a Namespaces row picked) is told to the server: its checks follow the new shell', async ({
    page,
    server,
  }) => {
    const detail = await api<LessonDetail>(server, 'GET', '/api/lessons/mount-namespaces');
    const work = detail.variables.WORK!;
    workRoot = dirname(work);
    await openLesson(page, server, 'mount-namespaces');
    const before = await pane(page, 'inside').getAttribute('data-status');
    expect(before).toBe('connected');
    // Pick the server's own mnt namespace as the inside target: the Inside pane ends its shell and starts another.
    const self = page.getByRole('table', { name: 'Namespaces' }).locator('tbody tr[data-self]');
    await self.click();
    await expect(pane(page, 'inside')).toContainText(/on mnt:\[\d+\]/);
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'connected');
    await waitForPrompt(page, 'inside');
    // Step 2 checks the Inside pane's foreground process: it passes only if the server follows the new shell.
    await runStep(page, steps(page).nth(0));
    await expect(steps(page).nth(0)).toHaveAttribute('data-state', 'passed', { timeout: STEP_TIMEOUT_MS });
    await runStep(page, steps(page).nth(1));
    await expect(steps(page).nth(1)).toHaveAttribute('data-state', 'passed', { timeout: STEP_TIMEOUT_MS });
    await expectResetLeftNothing(page, work);
  });

  test('an unknown lesson id says so', async ({ page, server }) => {
    await openConsole(page, `${server.url}&lesson=no-such-lesson`);
    await expect(lessonRegion(page).getByRole('alert')).toContainText('no-such-lesson');
  });
});
