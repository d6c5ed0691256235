// The first page load (issue #11): no script chunk of 500 kB or more, every script sent compressed, and what
// the first screen does not need (WebGL renderer, search, lesson panel, admin sessions, the viewer page) fetched
// only when it is used.
import type { Page } from '@playwright/test';
import { test, expect } from './fixtures.js';
import { openConsole, pane, snap, typeLine, waitForOutput } from './console.js';

/** The limit: no chunk this big on the first load. */
const MAX_CHUNK_BYTES = 500 * 1000;
/** Chunks the first screen must not fetch (their file names start with these). */
const ON_DEMAND = ['addon-webgl', 'addon-search', 'LessonPanel', 'SessionsDialog', 'viewer', 'ViewerController'];

interface Script {
  name: string;
  encoding: string | undefined;
  bytes: number;
}

/** Every script the page fetches, as it arrives: its file name, Content-Encoding and decoded size. */
function recordScripts(page: Page): Script[] {
  const scripts: Script[] = [];
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (!url.pathname.endsWith('.js')) return;
    void res.body().then(
      (body) =>
        scripts.push({
          name: url.pathname.split('/').pop() ?? '',
          encoding: res.headers()['content-encoding'],
          bytes: body.length,
        }),
      () => undefined, // Swallow: the page navigated away before the body came; not a first-load script
    );
  });
  return scripts;
}

const fetched = (scripts: Script[], prefix: string) => scripts.some((s) => s.name.startsWith(prefix + '-'));

test('the first load ships no 500 kB chunk, compressed, and fetches search and the lesson panel when used', async ({
  page,
  server,
}, testInfo) => {
  const scripts = recordScripts(page);
  await openConsole(page, server.url);
  await expect.poll(() => scripts.length).toBeGreaterThan(1);
  for (const s of scripts) {
    expect(s.bytes, `${s.name} decoded size`).toBeLessThan(MAX_CHUNK_BYTES);
    expect(s.encoding, `${s.name} Content-Encoding`).toMatch(/^(br|gzip)$/);
  }
  for (const prefix of ON_DEMAND) expect(fetched(scripts, prefix), `${prefix} on the first load`).toBe(false);

  // Search: its addon comes with the first search, and finds what the shell printed.
  await typeLine(page, 'outside', 'echo find-me-$((40+2))');
  await waitForOutput(page, 'outside', /^find-me-42$/m);
  const search = pane(page, 'outside').getByRole('searchbox', { name: 'Search in Outside terminal' });
  await search.fill('find-me-42');
  await search.press('Enter');
  await expect
    .poll(() =>
      page.evaluate(() =>
        (
          window as unknown as { nsconsole: { terminals: { outside: { getSelection(): string } } } }
        ).nsconsole.terminals.outside.getSelection(),
      ),
    )
    .toBe('find-me-42');
  // A script is recorded once its body is read (recordScripts), which may come after the page has run it.
  await expect.poll(() => fetched(scripts, 'addon-search')).toBe(true);

  // The lesson panel: fetched when a lesson opens.
  await page.getByRole('button', { name: 'Lessons' }).click();
  await page.getByRole('menu', { name: 'Lessons' }).getByRole('menuitem').first().click();
  await expect(page.getByRole('region', { name: 'Lesson' })).toBeVisible();
  await expect.poll(() => fetched(scripts, 'LessonPanel')).toBe(true);
  expect(fetched(scripts, 'addon-webgl'), 'the WebGL renderer on a software GL').toBe(false);
  await snap(page, testInfo, 'lesson-opened');
});
