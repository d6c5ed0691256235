// Another user's namespace in the UI (issue #15 1b): the Namespaces row says whose it is and why it is
// untrusted, and the Inside pane says in whose user namespace its shell runs once it is picked.
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { test, expect } from './fixtures.js';
import { namespaceRow, nsCell, openConsole, pane, snap } from './console.js';

const mntOf = (pid: number | 'self'): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`).replace(/^mnt:\[(\d+)\]$/, 'mnt:$1');
  } catch {
    return null;
  }
};

let holder: ChildProcess | undefined;
test.afterEach(async () => {
  if (holder && holder.exitCode === null && holder.signalCode === null) {
    const exited = new Promise((r) => holder!.once('exit', r));
    holder.kill('SIGKILL');
    await exited;
  }
  holder = undefined;
});

test.describe('untrusted namespaces', () => {
  test('are marked with their owner, and the Inside pane says in whose user namespace it runs', async ({
    page,
    server,
  }, testInfo) => {
    holder = spawn(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'unshare', '-Urm', '--', 'sleep', '600'],
      { stdio: 'ignore' },
    );
    const pid = holder.pid as number;
    await expect.poll(() => mntOf(pid) !== null && mntOf(pid) !== mntOf('self')).toBe(true);
    const id = mntOf(pid) as string;

    await openConsole(page, server.url);
    const row = namespaceRow(page, id);
    await expect(row).toHaveAttribute('data-untrusted', 'true');
    await expect(nsCell(row, 'NS')).toHaveText(id.slice(4)); // the cell's text stays lsns's value
    await expect(nsCell(row, 'NS')).toHaveAttribute('title', /owned by nobody \(uid 65534\) through user:\[\d+\]/);
    await expect(row).toHaveAttribute('title', /untrusted/);
    await snap(page, testInfo, '1-untrusted-row');

    await row.click();
    await expect(row).toHaveAttribute('aria-selected', 'true');
    const owner = pane(page, 'inside').getByTestId('owner');
    await expect(owner).toHaveText("⚠ in nobody's user namespace");
    await expect(owner).toHaveAttribute('title', /owned by nobody/);
    await expect(pane(page, 'outside').getByTestId('owner')).toHaveCount(0);
    await snap(page, testInfo, '2-inside-as-owner');
  });
});
