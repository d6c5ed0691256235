// statmount(2) rows rendered as /proc/PID/mountinfo lines: the same bytes the kernel's show_mountinfo prints,
// so the one parser gives identical Mount records for processless namespaces.
import { describe, expect, it } from 'vitest';
import { mountinfoLine, mountOptions, type StatMount } from '../../server/kernel/statmount.js';
import { parseMountinfoLine } from '../../server/mounts/mountinfo.js';

const row = (over: Partial<StatMount>): StatMount => ({
  id: 36,
  parentId: 35,
  uniqueId: 0x1_0000_0024n,
  devMajor: 0,
  devMinor: 42,
  sbMagic: 0x01021994n,
  root: Buffer.from('/'),
  target: Buffer.from('/mnt'),
  fstype: Buffer.from('tmpfs'),
  source: Buffer.from('tmp'),
  options: 'rw,relatime',
  superOptions: Buffer.from('rw,size=1024k'),
  tags: [],
  ...over,
});

describe('mountinfoLine', () => {
  it('prints what show_mountinfo prints, escapes included', () => {
    const line = mountinfoLine(
      row({
        target: Buffer.from('/a b\tc\nd\\e'),
        source: Buffer.from('src with space'),
        tags: ['shared:1', 'master:2'],
      }),
    );
    expect(line.toString()).toBe(
      '36 35 0:42 / /a\\040b\\011c\\012d\\134e rw,relatime shared:1 master:2 - tmpfs src\\040with\\040space rw,size=1024k\n',
    );
    expect(parseMountinfoLine(line.toString().trimEnd())).toMatchObject({
      target: '/a b\tc\nd\\e',
      source: 'src with space',
      propagation: 'slave,shared',
      peerGroup: 1,
      masterGroup: 2,
    });
  });

  it('says none for a mount made without a source, keeps non-UTF-8 bytes as they are', () => {
    const raw = Buffer.from([0x2f, 0x78, 0xff, 0xfe]);
    const line = mountinfoLine(row({ source: null, target: raw }));
    expect(line.includes(Buffer.from(' - tmpfs none '))).toBe(true);
    expect(line.includes(raw)).toBe(true);
  });
});

describe('mountOptions', () => {
  it('orders the words like show_mnt_opts and reads the atime field', () => {
    expect(mountOptions(0x0)).toBe('rw,relatime');
    expect(mountOptions(0x1 | 0x2 | 0x4 | 0x8)).toBe('ro,nosuid,nodev,noexec,relatime');
    expect(mountOptions(0x10 | 0x80)).toBe('rw,noatime,nodiratime');
    expect(mountOptions(0x20 | 0x20_0000 | 0x10_0000)).toBe('rw,nosymfollow,idmapped');
  });
});
