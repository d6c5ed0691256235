// Issue #4: the DESIGN.md walkthrough typed literally into the two panes (with a temp dir for /root/mntns).
// Pane 1 is the Inside terminal (it runs `unshare`, so it is the one compared with outside); pane 2 is Outside.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, removeTree } from './fixtures.js';
import {
  countMatches,
  mountRows,
  namespaceRow,
  nsCell,
  openConsole,
  pane,
  snap,
  typeLine,
  waitForNewMatch,
  waitForOutput,
} from './console.js';

test.describe('walkthrough', () => {
  let base = '';

  test.beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'nsconsole-walk-'));
  });

  test.afterEach(() => {
    removeTree(base); // umount -l DIR/1 and DIR (and anything else left), then rm -rf
  });

  test('a namespace persisted with unshare --mount=FILE, step by step', async ({ page, server }, testInfo) => {
    const DIR = join(base, 'mntns');
    await openConsole(page, server.url);
    const outsideWhere = pane(page, 'outside').getByTestId('where');
    await expect(outsideWhere).toContainText(/mnt:\[\d+\]/);
    const hostMnt = /mnt:\[\d+\]/.exec((await outsideWhere.textContent()) ?? '')![0];

    // 1# findmnt -o+PROPAGATION; mkdir; private bind; touch; unshare --mount=DIR/1
    await typeLine(page, 'inside', 'findmnt -o+PROPAGATION');
    await waitForOutput(page, 'inside', /^TARGET +SOURCE +FSTYPE +OPTIONS +PROPAGATION/m);
    await typeLine(
      page,
      'inside',
      `mkdir -p ${DIR} && mount --bind --make-private ${DIR} ${DIR} && touch ${DIR}/1 && unshare --mount=${DIR}/1`,
    );
    const insideWhere = pane(page, 'inside').getByTestId('where');
    await expect(insideWhere).not.toContainText(hostMnt);
    await expect(insideWhere).toContainText(/mnt:\[\d+\]/);

    // inside# mount -t tmpfs /mnt /mnt; touch /mnt/hi-there
    await typeLine(page, 'inside', 'mount -t tmpfs /mnt /mnt; touch /mnt/hi-there');
    // inside# readlink /proc/$$/ns/mnt
    await typeLine(page, 'inside', 'readlink /proc/$$/ns/mnt');
    const [readlink, inode] = await waitForOutput(page, 'inside', /^mnt:\[(\d+)\]$/m);
    expect(readlink).not.toBe(hostMnt);
    const id = `mnt:${inode}`;
    await expect(insideWhere).toContainText(readlink);

    // 2# findmnt /mnt; stat /mnt/hi-there — not visible outside
    await typeLine(page, 'outside', 'findmnt /mnt; stat /mnt/hi-there');
    await waitForOutput(page, 'outside', /stat: cannot statx? '\/mnt\/hi-there': No such file or directory/);

    // 2# lsns -t mnt — in the Namespaces table: NPROCS 1; the Mounts table shows the tmpfs only inside
    await typeLine(page, 'outside', 'lsns -t mnt');
    const row = namespaceRow(page, id);
    await expect(nsCell(row, 'NPROCS')).toHaveText('1');
    await expect(nsCell(row, 'NSFS')).toHaveText(`${DIR}/1`);
    await expect(row).toHaveAttribute('data-inside', 'true');
    await expect(mountRows(page, '/mnt').and(page.locator('[data-diff="only-inside"]'))).toHaveCount(1);
    await expect(mountRows(page, '/mnt').first()).toContainText('tmpfs');
    await snap(page, testInfo, '1-inside-after-unshare');

    // inside# exit — still exists: NPROCS 0, held by the nsfs bind mount
    await typeLine(page, 'inside', 'exit');
    await expect(insideWhere).toContainText(hostMnt);
    await expect(nsCell(row, 'NPROCS')).toHaveText('0');
    await expect(nsCell(row, 'NSFS')).toHaveText(`${DIR}/1`);
    await expect(mountRows(page, '/mnt').and(page.locator('[data-diff="only-inside"]'))).toHaveCount(0);

    // 2# grep DIR/1 /proc/mounts
    await typeLine(page, 'outside', `grep ${DIR}/1 /proc/mounts`);
    await waitForOutput(page, 'outside', new RegExp(`^nsfs ${DIR}/1 nsfs rw`, 'm'));
    await snap(page, testInfo, '2-persisted-no-process');

    // 1# nsenter --mount=DIR/1; stat /mnt/hi-there — there again
    await typeLine(page, 'inside', `nsenter --mount=${DIR}/1`);
    await expect(insideWhere).toContainText(readlink);
    await expect(nsCell(row, 'NPROCS')).toHaveText('1');
    const files = await countMatches(page, 'inside', /File: \/mnt\/hi-there/);
    await typeLine(page, 'inside', 'stat /mnt/hi-there');
    await waitForNewMatch(page, 'inside', /File: \/mnt\/hi-there/, files);
    await expect(mountRows(page, '/mnt').and(page.locator('[data-diff="only-inside"]'))).toHaveCount(1);
    await snap(page, testInfo, '3-nsenter-again');

    await typeLine(page, 'inside', 'exit');
    await expect(insideWhere).toContainText(hostMnt);
  });
});
