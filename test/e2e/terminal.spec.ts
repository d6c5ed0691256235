import { test, expect } from './fixtures.js';
import { openConsole, pane, snap, typeLine, waitForOutput, waitForPrompt } from './console.js';

test.describe('Outside terminal', () => {
  test('runs what is typed into it and shows the output', async ({ page, server }, testInfo) => {
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await openConsole(page, server.url);
    await expect(page).toHaveURL(`${server.origin}/`); // the token went into origin-scoped storage, out of the address bar
    await expect(page.getByRole('table', { name: 'Namespaces' })).toBeVisible();
    await expect(page.getByRole('table', { name: 'Mounts' })).toBeVisible();

    await typeLine(page, 'outside', 'echo hello-outside');
    await waitForOutput(page, 'outside', /^hello-outside$/m);
    await expect(pane(page, 'outside').getByTestId('where')).toContainText(/mnt:\[\d+\]/);
    await snap(page, testInfo, 'hello-outside');
    expect(problems, 'no script errors and no Content-Security-Policy violations').toEqual([]);
  });

  test('reconnects by itself when its socket drops, and gets the screen back', async ({ page, server }, testInfo) => {
    // Keep a handle on every WebSocket the page opens, so the test can cut the terminal streams.
    await page.addInitScript(() => {
      const sockets: WebSocket[] = [];
      const Native = window.WebSocket;
      window.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          sockets.push(this);
        }
      };
      (window as unknown as { __sockets: WebSocket[] }).__sockets = sockets;
    });
    await openConsole(page, server.url);
    await typeLine(page, 'outside', 'echo before-the-drop');
    await waitForOutput(page, 'outside', /^before-the-drop$/m);

    await page.evaluate(() => {
      for (const ws of (window as unknown as { __sockets: WebSocket[] }).__sockets) {
        if (ws.url.includes('/ws/sessions/') && ws.readyState === WebSocket.OPEN) ws.close(4999, 'test: cut');
      }
    });
    await expect(pane(page, 'outside')).toHaveAttribute('data-status', 'reconnecting');
    await expect(pane(page, 'outside')).toHaveAttribute('data-status', 'connected');
    await waitForOutput(page, 'outside', /^before-the-drop$/m); // replayed by the server after the reattach
    await waitForPrompt(page, 'outside');
    await typeLine(page, 'outside', 'echo after-the-drop');
    await waitForOutput(page, 'outside', /^after-the-drop$/m);
    await snap(page, testInfo, 'after-reconnect');
  });

  test('offers Restart when the shell exits', async ({ page, server }, testInfo) => {
    await openConsole(page, server.url);
    await typeLine(page, 'outside', 'exit 3');
    await expect(pane(page, 'outside')).toHaveAttribute('data-status', 'exited');
    await expect(pane(page, 'outside')).toContainText('The shell exited with code 3.');
    await snap(page, testInfo, 'exited');
    await pane(page, 'outside').getByRole('button', { name: 'Restart' }).click();
    await expect(pane(page, 'outside')).toHaveAttribute('data-status', 'connected');
    await typeLine(page, 'outside', 'echo restarted');
    await waitForOutput(page, 'outside', /^restarted$/m);
  });

  test('keeps up with a flood of output (acks keep the stream flowing)', async ({ page, server }) => {
    await openConsole(page, server.url);
    await typeLine(page, 'outside', 'seq 1 200000; echo flood-done');
    await waitForOutput(page, 'outside', /^200000\nflood-done$/m, 60_000);
  });
});
