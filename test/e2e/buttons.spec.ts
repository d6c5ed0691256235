// The walkthrough's story through the buttons: New namespace → it is selected and the Inside terminal is in it →
// a tmpfs mounted there shows as only-inside → Delete namespace removes it.
import { test, expect } from './fixtures.js';
import { mountRows, namespaceRow, nsCell, openConsole, pane, snap, typeLine, waitForPrompt } from './console.js';

test.describe('namespace buttons', () => {
  test('New namespace creates and selects it; Delete namespace removes it', async ({ page, server }, testInfo) => {
    await openConsole(page, server.url);
    const name = `e2e-${Date.now().toString(36)}`;

    await page.getByRole('button', { name: 'New namespace' }).click();
    const dialog = page.getByRole('dialog', { name: 'New namespace' });
    await expect(dialog).toBeVisible();
    await dialog.getByLabel('Name').fill(name);
    await snap(page, testInfo, '1-new-namespace-dialog');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect(dialog).toBeHidden();

    const selected = page.getByRole('table', { name: 'Namespaces' }).getByRole('row', { selected: true });
    await expect(selected).toHaveCount(1);
    await expect(nsCell(selected, 'NSFS')).toHaveText(`${server.nsDir}/${name}`);
    const id = (await selected.getAttribute('data-ns-id'))!;
    const inode = id.split(':')[1]!;
    const where = pane(page, 'inside').getByTestId('where');
    await expect(where).toContainText(`mnt:[${inode}]`);
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'connected');

    await typeLine(page, 'inside', 'mount -t tmpfs /mnt /mnt; touch /mnt/hi-there');
    await expect(mountRows(page, '/mnt').and(page.locator('[data-diff="only-inside"]'))).toHaveCount(1);
    await page.getByLabel('Differences only').check();
    await expect(page.getByRole('table', { name: 'Mounts' }).locator('tbody tr[data-diff="same"]')).toHaveCount(0);
    await snap(page, testInfo, '2-selected-with-tmpfs');

    await page.getByRole('button', { name: 'Delete namespace' }).click();
    await expect(namespaceRow(page, id)).toHaveCount(0);
    await expect(page.getByRole('table', { name: 'Namespaces' }).getByRole('row', { selected: true })).toHaveCount(0);
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'connected');
    await expect(where).not.toContainText(`mnt:[${inode}]`);
    await waitForPrompt(page, 'inside'); // a fresh host shell, never a blank pane
    await snap(page, testInfo, '3-deleted');
  });
});

test.describe('picked namespace', () => {
  test('when it disappears, the Inside pane says so and offers to go back to host', async ({
    page,
    server,
  }, testInfo) => {
    await openConsole(page, server.url);
    await page.getByRole('button', { name: 'New namespace' }).click();
    const dialog = page.getByRole('dialog', { name: 'New namespace' });
    await dialog.getByLabel('Name').fill('short-lived');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const selected = page.getByRole('table', { name: 'Namespaces' }).getByRole('row', { selected: true });
    await expect(selected).toHaveCount(1);
    const id = (await selected.getAttribute('data-ns-id'))!;
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'connected');

    // Its only process leaves, then someone else removes its nsfs bind: nothing holds it any more.
    await typeLine(page, 'inside', 'exit');
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'exited');
    const res = await page.request.delete(`${server.origin}/api/namespaces/${encodeURIComponent(id)}`, {
      headers: { authorization: `Bearer ${server.token}`, origin: server.origin },
    });
    expect(res.status()).toBe(204);

    const inside = pane(page, 'inside');
    await expect(inside.getByRole('alert')).toContainText(`Namespace mnt:[${id.split(':')[1]}] no longer exists.`);
    await snap(page, testInfo, 'picked-namespace-gone');
    await inside.getByRole('button', { name: 'Back to host' }).click();
    await expect(inside).toHaveAttribute('data-status', 'connected');
    await expect(inside).toContainText('on host');
    await waitForPrompt(page, 'inside');
  });
});
