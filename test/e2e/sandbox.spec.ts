// --sandbox in the browser: the header names the sandbox, both panes are shells in it, the Namespaces table
// lists only what is inside it, and "Reset sandbox" gives a new one with fresh shells.
import { test, expect } from './fixtures.js';
import { openConsole, pane, typeLine, waitForOutput, waitForPrompt } from './console.js';

const SANDBOX_ENV = { NSCONSOLE_SANDBOX: '1', NSCONSOLE_SANDBOX_UIDS: '1200000:131072' };

test.describe('sandbox mode', () => {
  // The server fixture passes our environment on: the sandbox is switched on for these tests only.
  test.beforeAll(() => Object.assign(process.env, SANDBOX_ENV));
  test.afterAll(() => {
    for (const k of Object.keys(SANDBOX_ENV)) delete process.env[k];
  });

  test('the header names the sandbox; Reset sandbox gives a new one', async ({ page, server }) => {
    await openConsole(page, server.url);
    const name = page.getByTestId('sandbox-name');
    await expect(name).toHaveText(/^sandbox-[0-9a-f]{8}$/);
    const first = (await name.textContent())!;
    await waitForPrompt(page, 'outside');
    await typeLine(page, 'outside', 'hostname; touch /root/was-here');
    await waitForOutput(page, 'outside', new RegExp(`^${first}$`, 'm'));

    // The table shows the sandbox's namespaces, its own marked as the outside baseline, none of the host's.
    const rows = page.getByRole('table', { name: 'Namespaces' }).locator('tbody tr');
    await expect(rows.first()).toBeVisible();
    const hostMnt = (await import('node:fs')).readlinkSync('/proc/self/ns/mnt').replace(/^mnt:\[(\d+)\]$/, 'mnt:$1');
    await expect(page.locator(`[data-ns-id="${hostMnt}"]`)).toHaveCount(0);

    await page.getByRole('button', { name: 'Reset sandbox' }).click();
    await expect(name).not.toHaveText(first);
    await expect(name).toHaveText(/^sandbox-[0-9a-f]{8}$/);
    await expect(pane(page, 'outside')).toHaveAttribute('data-status', 'connected');
    await waitForPrompt(page, 'outside');
    await typeLine(page, 'outside', 'ls /root/was-here');
    await waitForOutput(page, 'outside', /No such file or directory/);
  });
});
