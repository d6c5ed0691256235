// Reattach on reload: each pane remembers its session for the tab (sessionStorage), so a reload reconnects to
// the same shells (the server replays their screens) instead of starting new ones — while they still run.
import type { Page } from '@playwright/test';
import { test, expect } from './fixtures.js';
import { openConsole, pane, reloadConsole, snap, typeLine, waitForOutput } from './console.js';

/** Count POST /api/sessions from now on: a reattach makes none. */
function countSessionCreates(page: Page): { readonly count: number } {
  const counter = { count: 0 };
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/sessions') counter.count++;
  });
  return counter;
}

test.describe('page reload', () => {
  test('keeps both shells: the Outside shell still has its variable, and no session is created', async ({
    page,
    server,
  }, testInfo) => {
    await openConsole(page, server.url);
    await typeLine(page, 'outside', 'export MARK=123');
    await typeLine(page, 'inside', 'export MARK=456');
    await typeLine(page, 'outside', 'echo before-reload');
    await waitForOutput(page, 'outside', /^before-reload$/m);

    const creates = countSessionCreates(page);
    await reloadConsole(page);
    await waitForOutput(page, 'outside', /^before-reload$/m); // the screen was replayed
    await typeLine(page, 'outside', 'echo "mark=$MARK"');
    await waitForOutput(page, 'outside', /^mark=123$/m);
    await typeLine(page, 'inside', 'echo "mark=$MARK"');
    await waitForOutput(page, 'inside', /^mark=456$/m);
    expect(creates.count, 'POST /api/sessions after the reload').toBe(0);
    await snap(page, testInfo, 'after-reload');
  });

  test('starts a new shell when the old one has exited', async ({ page, server }) => {
    await openConsole(page, server.url);
    await typeLine(page, 'outside', 'export MARK=123');
    await typeLine(page, 'outside', 'exit');
    await expect(pane(page, 'outside')).toHaveAttribute('data-status', 'exited');

    const creates = countSessionCreates(page);
    await reloadConsole(page);
    await typeLine(page, 'outside', 'echo "mark=${MARK:-unset}"');
    await waitForOutput(page, 'outside', /^mark=unset$/m);
    expect(creates.count, 'only the Outside pane starts a new shell').toBe(1);
  });

  test('keeps the picked namespace and the Inside shell in it', async ({ page, server }) => {
    await openConsole(page, server.url);
    await page.getByRole('button', { name: 'New namespace' }).click();
    const dialog = page.getByRole('dialog', { name: 'New namespace' });
    await dialog.getByLabel('Name').fill('reload-kept');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const selected = page.getByRole('table', { name: 'Namespaces' }).getByRole('row', { selected: true });
    const id = (await selected.getAttribute('data-ns-id'))!;
    const inode = id.split(':')[1]!;
    await expect(pane(page, 'inside').getByTestId('where')).toContainText(`mnt:[${inode}]`);
    await typeLine(page, 'inside', 'export MARK=inside-7');

    await reloadConsole(page);
    await expect(selected).toHaveAttribute('data-ns-id', id);
    await expect(pane(page, 'inside')).toContainText(`Inside target: mnt:[${inode}]`);
    await expect(pane(page, 'inside').getByTestId('where')).toContainText(`mnt:[${inode}]`);
    await typeLine(page, 'inside', 'echo "mark=$MARK"');
    await waitForOutput(page, 'inside', /^mark=inside-7$/m);
  });
});
