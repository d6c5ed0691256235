// Issue #9, the lesson panel: every shipped lesson completed through its "Run in …" buttons (each step turns
// `passed` from kernel state), the first one also typed by hand, a wrong step staying pending with its reason,
// `/?lesson=ID`, progress across a reload, and "Reset lesson" leaving nothing behind — checked from this process
// against /proc and the workspace on disk, not through the UI.
import { readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { test, expect, mountsUnder, removeTree, type ServerInfo } from './fixtures.js';
import { countMatches, openConsole, pane, reloadConsole, snap, typeLine, waitForNewMatch, waitForPrompt, type PaneName } from './console.js';

const REPO = resolve(import.meta.dirname, '../..');
/** The shipped lessons: one test each (the file name is the lesson id). */
const LESSON_IDS = readdirSync(resolve(REPO, 'lessons'))
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => f.replace(/\.ya?ml$/, ''))
  .sort();
/** A step's checks run when the kernel reports a change; generous for a machine shared with other test runs. */
const STEP_TIMEOUT_MS = 20_000;

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
    await waitForNewMatch(page, paneName, escapeRe(text), before);
    await waitForPrompt(page, paneName);
  }
}

/** The inode of every process's mount namespace, from /proc (processes that vanish meanwhile are skipped). */
function processesInMnt(inode: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/mnt`) === `mnt:[${inode}]`) pids.push(Number(e));
    } catch {
      // Swallow: the process exited while we looked, or is PID 1 (EACCES): neither is the lesson's
    }
  }
  return pids;
}

/** nsfs mounts (persisted namespaces) anywhere in our mount table whose namespace is `inode`. */
function nsfsBindsOf(inode: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - nsfs /.test(l) && l.split(' ')[3]?.includes(`[${inode}]`))
    .map((l) => l.split(' ')[4]!);
}

/** Namespace inodes persisted (nsfs-bound) under `dir`. */
function persistedUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - nsfs /.test(l) && (l.split(' ')[4] ?? '').startsWith(dir + '/'))
    .map((l) => /\[(\d+)\]/.exec(l.split(' ')[3] ?? '')?.[1])
    .filter((i): i is string => i !== undefined);
}

async function expectResetLeftNothing(page: Page, work: string, inodes: string[]): Promise<void> {
  await lessonRegion(page).getByRole('button', { name: 'Reset lesson' }).click();
  await expect(lessonRegion(page).getByRole('status', { name: 'Reset report' })).toBeVisible();
  for (const s of await steps(page).all()) await expect(s).toHaveAttribute('data-state', 'pending');
  expect(mountsUnder(work)).toEqual([]);
  expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
  for (const inode of inodes) {
    expect(nsfsBindsOf(inode), `nsfs binds of mnt:[${inode}]`).toEqual([]);
    expect(processesInMnt(inode), `processes in mnt:[${inode}]`).toEqual([]);
  }
}

test.describe('lessons', () => {
  let workRoot = '';

  test.afterEach(() => {
    if (workRoot) removeTree(workRoot); // the server's lesson workspaces: lazily unmount what is left, rm -rf
    workRoot = '';
  });

  for (const id of LESSON_IDS) {
    test(`${id}: completed by its Run buttons, then Reset lesson leaves nothing`, async ({ page, server }, testInfo) => {
      const detail = await api<LessonDetail>(server, 'GET', `/api/lessons/${id}`);
      const work = detail.variables.WORK!;
      workRoot = dirname(work);
      await openLesson(page, server, id);
      await expect(lessonRegion(page)).toBeVisible();
      const count = await steps(page).count();
      expect(count).toBe(detail.steps.length);
      const inodes = new Set<string>();
      for (let i = 0; i < count; i++) {
        const step = steps(page).nth(i);
        await expect(step).toHaveAttribute('data-state', 'pending');
        await runStep(page, step);
        await expect(step).toHaveAttribute('data-state', 'passed', { timeout: STEP_TIMEOUT_MS });
        for (const inode of persistedUnder(work)) inodes.add(inode);
        if (id === 'mount-namespaces' && i === 2) {
          await page.setViewportSize({ width: 1280, height: 800 });
          await snap(page, testInfo, 'mid-lesson-1280');
        }
      }
      await snap(page, testInfo, 'all-passed');
      await expectResetLeftNothing(page, work, [...inodes]);
    });
  }

  test('mount-namespaces typed by hand (opened from the Lessons menu); a reload keeps progress', async ({ page, server }, testInfo) => {
    const detail = await api<LessonDetail>(server, 'GET', '/api/lessons/mount-namespaces');
    const work = detail.variables.WORK!;
    workRoot = dirname(work);
    await openConsole(page, server.url);
    await expect(lessonRegion(page)).toHaveCount(0);
    await page.getByRole('button', { name: 'Lessons' }).click();
    await page.getByRole('menu', { name: 'Lessons' }).getByRole('menuitem').filter({ hasText: 'Mount namespaces' }).click();
    await expect(lessonRegion(page)).toBeVisible();
    expect(new URL(page.url()).searchParams.get('lesson')).toBe('mount-namespaces');
    const count = await steps(page).count();
    const inodes = new Set<string>();
    for (let i = 0; i < count; i++) {
      const step = steps(page).nth(i);
      await expect(step).toHaveAttribute('data-state', 'pending');
      for (const cmd of detail.steps[i]!.commands) {
        const before = await countMatches(page, cmd.pane, escapeRe(cmd.text));
        await typeLine(page, cmd.pane, cmd.text);
        await waitForNewMatch(page, cmd.pane, escapeRe(cmd.text), before);
      }
      await expect(step).toHaveAttribute('data-state', 'passed', { timeout: STEP_TIMEOUT_MS });
      for (const inode of persistedUnder(work)) inodes.add(inode);
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
    await expectResetLeftNothing(page, work, [...inodes]);
  });

  test('a wrong or skipped step stays pending with its reason; Hint reveals the hints', async ({ page, server }, testInfo) => {
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
    const inodes = persistedUnder(work);
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

    await expectResetLeftNothing(page, work, inodes);
  });

  test('at 1280×800 the lesson, both terminals, Namespaces and Mounts are all in view', async ({ page, server }, testInfo) => {
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
      // the namespace in the header is shown whole, not cut by the ellipsis of its (clipping) parent
      expect(await where.evaluate((el) => el.getBoundingClientRect().right <= el.parentElement!.getBoundingClientRect().right + 0.5)).toBe(true);
    }
    const cols = await page.evaluate(() => (window as unknown as { nsconsole: { terminals: { outside: { cols: number } } } }).nsconsole.terminals.outside.cols);
    expect(cols).toBeGreaterThanOrEqual(50);
    await snap(page, testInfo, 'lesson-1280x800');
    // Closing the panel gives the console its whole width back, and leaves the address without ?lesson.
    await region.getByRole('button', { name: 'Close lesson' }).click();
    await expect(region).toHaveCount(0);
    expect(new URL(page.url()).searchParams.get('lesson')).toBeNull();
  });

  test('an unknown lesson id says so', async ({ page, server }) => {
    await openConsole(page, `${server.url}&lesson=no-such-lesson`);
    await expect(lessonRegion(page).getByRole('alert')).toContainText('no-such-lesson');
  });
});
