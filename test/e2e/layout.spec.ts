// What a person sees at common widths and in either colour scheme, and the keyboard path through the
// Namespaces table (focus a row, Enter selects it).
import { test, expect } from './fixtures.js';
import { namespaceRow, openConsole, pane, snap, waitForPrompt } from './console.js';

test.describe('layout', () => {
  test('at 1024 px the panes sit side by side; on a narrow screen they stack', async ({ page, server }, testInfo) => {
    await page.setViewportSize({ width: 1024, height: 768 });
    await openConsole(page, server.url);
    const outside = (await pane(page, 'outside').boundingBox())!;
    const inside = (await pane(page, 'inside').boundingBox())!;
    expect(inside.x).toBeGreaterThan(outside.x + outside.width - 1);
    expect(Math.abs(inside.y - outside.y)).toBeLessThan(2);
    await expect(page.getByRole('table', { name: 'Namespaces' })).toBeInViewport();
    await expect(page.getByRole('table', { name: 'Mounts' })).toBeInViewport();
    await snap(page, testInfo, '1024-light');

    await page.setViewportSize({ width: 700, height: 900 });
    await expect
      .poll(async () => (await pane(page, 'inside').boundingBox())!.y)
      .toBeGreaterThan((await pane(page, 'outside').boundingBox())!.y + 100);
    await snap(page, testInfo, '700-stacked');
  });

  test('the terminals follow the OS dark scheme', async ({ page, server }, testInfo) => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await openConsole(page, server.url);
    const background = () =>
      page.evaluate(
        () =>
          (
            window as unknown as {
              nsconsole: { terminals: { outside: { options: { theme?: { background?: string } } } } };
            }
          ).nsconsole.terminals.outside.options.theme?.background,
      );
    const dark = await background();
    await snap(page, testInfo, 'dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await expect.poll(background).not.toBe(dark);
  });

  test('a Namespaces row is selected with the keyboard', async ({ page, server }, testInfo) => {
    await openConsole(page, server.url);
    const self = page.getByRole('table', { name: 'Namespaces' }).locator('tbody tr[data-self]');
    await expect(self).toHaveCount(1);
    const id = (await self.getAttribute('data-ns-id'))!;
    await self.focus();
    await page.keyboard.press('Enter');
    await expect(namespaceRow(page, id)).toHaveAttribute('aria-selected', 'true');
    await expect(pane(page, 'inside')).toContainText(`on mnt:[${id.split(':')[1]}]`);
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'connected');
    await waitForPrompt(page, 'inside');
    await snap(page, testInfo, 'selected-by-keyboard');
    await page.getByRole('button', { name: 'Back to host' }).click();
    await expect(pane(page, 'inside')).toContainText('on host');
    await expect(page.getByRole('table', { name: 'Namespaces' }).getByRole('row', { selected: true })).toHaveCount(0);
  });
});
