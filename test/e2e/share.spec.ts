// The read-only share link: the owner's "Share read-only link" gives a URL; whoever opens it (another browser,
// no owner cookie) watches the shell live, at the writer's size, and nothing they type reaches the shell.
import type { Browser, Page, WebSocket as PwWebSocket } from '@playwright/test';
import { test, expect } from './fixtures.js';
import { openConsole, pane, snap, terminalSize, terminalText, typeLine, waitForOutput } from './console.js';

const VIEWER_REGION = 'Shared terminal (read-only)';

/** Ask the Outside pane for its share link, through the dialog, and return the absolute URL it shows. */
async function shareLink(page: Page, origin: string): Promise<string> {
  await pane(page, 'outside').getByRole('button', { name: 'Share read-only link' }).click();
  const dialog = page.getByRole('dialog', { name: 'Read-only link to the Outside shell' });
  await expect(dialog).toBeVisible();
  const field = dialog.getByRole('textbox', { name: 'Read-only link' });
  await expect(field).toHaveValue(/\?session=/);
  const url = await field.inputValue();
  expect(url.startsWith(`${origin}/?session=`), 'an absolute link to this server').toBe(true);
  expect(new URL(url).searchParams.get('view')).toMatch(/^[A-Za-z0-9_-]+$/);
  return url;
}

interface Viewer {
  page: Page;
  /** what the viewer sent on its terminal socket: binary frames (input) and control messages by type */
  sent: { binary: number; control: string[] };
  /** /api/* requests it made other than /api/health */
  apiCalls: string[];
  close(): Promise<void>;
}

/** Open `url` in a fresh browser context: no owner cookie, like a second person would. */
async function openViewer(browser: Browser, url: string): Promise<Viewer> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  const sent = { binary: 0, control: [] as string[] };
  const apiCalls: string[] = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/api/') && path !== '/api/health') apiCalls.push(`${r.method()} ${path}`);
  });
  page.on('websocket', (ws: PwWebSocket) => {
    if (!ws.url().includes('/ws/sessions/')) return;
    ws.on('framesent', (f) => {
      if (typeof f.payload === 'string') sent.control.push((JSON.parse(f.payload) as { type: string }).type);
      else sent.binary++;
    });
  });
  await page.goto(url);
  return { page, sent, apiCalls, close: () => context.close() };
}

test.describe('read-only share link', () => {
  test('the viewer sees what the writer types, at the writer size, and cannot type into the shell', async ({
    page,
    server,
    browser,
  }, testInfo) => {
    await openConsole(page, server.url);
    const url = await shareLink(page, server.origin);
    const dialog = page.getByRole('dialog', { name: 'Read-only link to the Outside shell' });
    await dialog.getByRole('button', { name: 'Copy link' }).click();
    await expect(dialog.getByRole('button', { name: 'Copied' })).toBeVisible();
    await snap(page, testInfo, '1-share-dialog');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await expect(dialog).toBeHidden();

    const viewer = await openViewer(browser, url);
    try {
      const v = viewer.page;
      const region = v.getByRole('region', { name: VIEWER_REGION });
      await expect(region).toHaveAttribute('data-status', 'connected');
      await expect(v.getByText('read-only', { exact: true })).toBeVisible();
      await expect(v.getByRole('table')).toHaveCount(0); // no namespaces or mounts panels
      await expect(v.getByRole('region', { name: 'Outside terminal' })).toHaveCount(0);

      await typeLine(page, 'outside', 'echo shared-$((6*7))');
      await waitForOutput(v, 'shared', /^shared-42$/m);

      // The writer's size wins: the viewer takes it from hello, then follows each resize.
      await expect.poll(() => terminalSize(v, 'shared')).toEqual(await terminalSize(page, 'outside'));
      const before = await terminalSize(page, 'outside');
      await page.setViewportSize({ width: 1100, height: 800 });
      await expect.poll(() => terminalSize(page, 'outside')).not.toEqual(before);
      await expect.poll(() => terminalSize(v, 'shared')).toEqual(await terminalSize(page, 'outside'));

      // Type into the viewer as a person would; then the writer runs a command, and once its output is on both
      // screens, the viewer's keystrokes are nowhere: not in the shell, not on either screen.
      await region.click();
      await v.keyboard.type('echo viewer-typed-this');
      await v.keyboard.press('Enter');
      await typeLine(page, 'outside', 'echo writer-$((2+3))');
      await waitForOutput(page, 'outside', /^writer-5$/m);
      await waitForOutput(v, 'shared', /^writer-5$/m);
      expect(await terminalText(page, 'outside')).not.toContain('viewer-typed');
      expect(await terminalText(v, 'shared')).not.toContain('viewer-typed');
      expect(viewer.sent.binary, 'input frames sent by the viewer').toBe(0);
      expect(
        viewer.sent.control.filter((t) => t !== 'ack'),
        'control messages other than acks',
      ).toEqual([]);
      expect(viewer.apiCalls, 'the viewer has no owner token: it calls no /api/* route').toEqual([]);
      await snap(v, testInfo, '2-viewer');
    } finally {
      await viewer.close();
    }
  });

  test('the viewer says so when the shared shell ends', async ({ page, server, browser }, testInfo) => {
    await openConsole(page, server.url);
    const url = await shareLink(page, server.origin);
    await page.keyboard.press('Escape');
    const viewer = await openViewer(browser, url);
    try {
      const region = viewer.page.getByRole('region', { name: VIEWER_REGION });
      await expect(region).toHaveAttribute('data-status', 'connected');
      await typeLine(page, 'outside', 'exit');
      await expect(region).toHaveAttribute('data-status', 'exited');
      await expect(region).toContainText('The shared shell has ended.');
      await snap(viewer.page, testInfo, 'viewer-ended');
    } finally {
      await viewer.close();
    }
  });

  test('a link for a session that is gone says so instead of retrying for ever', async ({ page, server, browser }) => {
    await openConsole(page, server.url);
    const url = await shareLink(page, server.origin);
    await page.keyboard.press('Escape');
    const viewer = await openViewer(browser, url.replace(/session=[^&]+/, 'session=no-such-session'));
    try {
      const region = viewer.page.getByRole('region', { name: VIEWER_REGION });
      await expect(region).toHaveAttribute('data-status', 'exited', { timeout: 20_000 });
      await expect(region).toContainText('no longer valid');
    } finally {
      await viewer.close();
    }
  });
});
