// Containers in the browser, with a private Docker daemon: the CONTAINER column names them, the filter narrows
// the table to one, "Enter container" opens its own shell, and an image without a shell is offered host tools.
import { test, expect } from './fixtures.js';
import { namespaceRow, openConsole, pane, snap, typeLine, waitForOutput } from './console.js';
import {
  cannotStartReason,
  NOSHELL_BINARY,
  NOSHELL_IMAGE,
  SHELL_IMAGE,
  startDaemon,
  type TestDaemon,
} from '../integration/containers-daemon.js';

const reason = cannotStartReason();
let daemon: TestDaemon | null = null;
let startError: string | null = reason;
const web = `nsc-e2e-web-${Date.now().toString(36)}`;
const bare = `nsc-e2e-noshell-${Date.now().toString(36)}`;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  if (reason !== null) return;
  try {
    daemon = await startDaemon();
  } catch (err) {
    startError = (err as Error).message;
    return;
  }
  // The server fixture inherits this environment: it names containers through the private daemon.
  process.env.NSCONSOLE_DOCKER_SOCKET = daemon.socket;
  daemon.docker('run', '-d', '--name', web, '--network', 'none', '--hostname', 'webbox', SHELL_IMAGE, 'sleep', '1000');
  daemon.docker(
    'run',
    '-d',
    '--name',
    bare,
    '--network',
    'none',
    '--hostname',
    'barebox',
    '--entrypoint',
    NOSHELL_BINARY,
    NOSHELL_IMAGE,
    '1000',
  );
});
test.afterAll(async () => {
  delete process.env.NSCONSOLE_DOCKER_SOCKET;
  await daemon?.stop();
});

test.describe('containers', () => {
  test('CONTAINER column, filter, Enter container, and host tools for an image without a shell', async ({
    page,
    server,
  }, testInfo) => {
    test.skip(startError !== null, `a private Docker daemon cannot start here: ${startError}`);
    await openConsole(page, server.url);
    const table = page.getByRole('table', { name: 'Namespaces' });
    await expect(table.getByRole('columnheader', { name: 'CONTAINER' })).toBeVisible();
    const webRow = table.locator('tbody tr', { hasText: web });
    await expect(webRow).toHaveCount(1);

    await page.getByLabel('Container').selectOption({ label: web });
    await expect(table.locator('tbody tr')).toHaveCount(1);
    await snap(page, testInfo, '1-filtered');
    await webRow.click();
    await page.getByRole('button', { name: 'Enter container' }).click();
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'connected');
    await expect(page.getByTestId('container-notice')).toContainText(`Inside container ${web}`);
    await typeLine(page, 'inside', 'echo "h=$(hostname)"');
    await waitForOutput(page, 'inside', /h=webbox/);
    await snap(page, testInfo, '2-inside-container');

    await page.getByLabel('Container').selectOption({ label: bare });
    const bareRow = table.locator('tbody tr', { hasText: bare });
    await expect(bareRow).toHaveCount(1);
    const bareId = (await bareRow.getAttribute('data-ns-id'))!;
    await namespaceRow(page, bareId).click();
    await page.getByRole('button', { name: 'Enter container' }).click();
    const offer = page.getByRole('button', { name: 'Enter with host tools' });
    await expect(offer).toBeVisible();
    await expect(page.getByTestId('container-notice')).toContainText('has no shell');
    await offer.click();
    await expect(pane(page, 'inside')).toHaveAttribute('data-status', 'connected');
    await expect(page.getByTestId('container-notice')).toContainText('/mnt/container');
    await typeLine(
      page,
      'inside',
      'echo "h=$(hostname) n=$(ps -e --no-headers | wc -l) f=$(ls /mnt/container | tr \\\\n ,)"',
    );
    const m = await waitForOutput(page, 'inside', /h=barebox n=(\d+) f=(\S+)/);
    expect(Number(m[1])).toBeLessThan(10);
    expect(m[2]!.split(',')).toContain(NOSHELL_BINARY.slice(1));
    await snap(page, testInfo, '3-host-tools');
  });
});
