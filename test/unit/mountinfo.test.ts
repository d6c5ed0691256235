import { describe, expect, it } from 'vitest';
import {
  nsfsTargetId,
  parseMountinfo,
  parseMountinfoLine,
  parseNsfsMounts,
  parseOptionalFields,
  MountinfoParseError,
} from '../../server/mounts/mountinfo.js';
import { escapeMountinfo, unescapeMountinfo } from '../../server/proc/mangle.js';

// Lines in the kernel's own format (fs/proc_namespace.c show_mountinfo), including the proc(5) example.
const FIXTURE = [
  '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
  '22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
  '40 27 0:40 / /srv rw,relatime shared:5 master:3 propagate_from:2 - tmpfs tmpfs rw,size=4k',
  '41 27 0:41 / /unb rw,relatime unbindable - tmpfs none rw',
  '65 42 0:4 mnt:[4026532177] /root/mntns/1 rw - nsfs nsfs rw',
  '66 42 0:4 net:[4026532300] /run/netns/lab rw shared:9 - nsfs nsfs rw',
  '70 27 0:50 / /mnt/a\\040b\\011c\\012d\\134e rw,relatime - tmpfs my\\040src rw',
  '71 27 0:51 / /empty rw - tmpfs  rw',
  '',
].join('\n');

describe('parseMountinfo', () => {
  const mounts = parseMountinfo(FIXTURE);

  it('reads every line and skips the trailing newline', () => {
    expect(mounts).toHaveLength(9);
  });

  it('maps the fields of the proc(5) example', () => {
    expect(mounts[2]).toEqual({
      id: 36,
      parentId: 35,
      target: '/mnt/parent',
      source: '/dev/root',
      fstype: 'ext3',
      options: 'rw,noatime',
      superOptions: 'rw,errors=continue',
      root: '/mnt1',
      propagation: 'slave',
      masterGroup: 1,
    });
  });

  it('turns optional fields into propagation and groups', () => {
    expect(mounts[0]).toMatchObject({ propagation: 'shared', peerGroup: 1 });
    expect(mounts[0]?.masterGroup).toBeUndefined();
    expect(mounts[3]).toMatchObject({ propagation: 'slave,shared', peerGroup: 5, masterGroup: 3, propagateFrom: 2 });
    expect(mounts[4]).toMatchObject({ propagation: 'unbindable' });
    expect(mounts[5]).toMatchObject({ propagation: 'private' });
    expect(mounts[5]?.peerGroup).toBeUndefined();
  });

  it('unescapes space, tab, newline and backslash in targets and sources', () => {
    expect(mounts[7]?.target).toBe('/mnt/a b\tc\nd\\e');
    expect(mounts[7]?.source).toBe('my src');
  });

  it('keeps an empty source as an empty string', () => {
    expect(mounts[8]).toMatchObject({ target: '/empty', source: '', fstype: 'tmpfs', superOptions: 'rw' });
  });

  it('rejects text that is not mountinfo', () => {
    expect(() => parseMountinfoLine('rootfs / rootfs rw 0 0')).toThrow(MountinfoParseError);
    expect(() => parseMountinfoLine('1 2 3 4 5 6 7 8 9 10')).toThrow(MountinfoParseError);
  });
});

describe('escapeMountinfo / unescapeMountinfo', () => {
  it.each(['/plain', '/with space', '/tab\there', '/new\nline', '/back\\slash', '/all \t\n\\ of them', '/ünïcode ok'])(
    'round-trips %j',
    (p) => {
      const escaped = escapeMountinfo(p);
      expect(escaped).not.toMatch(/[ \t\n]/);
      expect(unescapeMountinfo(escaped)).toBe(p);
      const line = `100 1 0:60 / ${escaped} rw - tmpfs ${escapeMountinfo(p)} rw`;
      expect(parseMountinfoLine(line)).toMatchObject({ target: p, source: p });
    },
  );

  it('leaves a backslash that is not an octal escape alone', () => {
    expect(unescapeMountinfo('/a\\x')).toBe('/a\\x');
  });
});

describe('parseOptionalFields', () => {
  it('is private with no fields and ignores unknown tags', () => {
    expect(parseOptionalFields([])).toEqual({ propagation: 'private' });
    expect(parseOptionalFields(['future:7'])).toEqual({ propagation: 'private' });
  });
});

describe('nsfs helpers', () => {
  it('reads the namespace id from an nsfs root', () => {
    const [mnt, net] = parseNsfsMounts(FIXTURE);
    expect(nsfsTargetId(mnt!)).toBe('mnt:4026532177');
    expect(nsfsTargetId(net!)).toBe('net:4026532300');
    expect(nsfsTargetId({ fstype: 'nsfs', root: 'pid_for_children:[4026532999]' })).toBe('pid:4026532999');
    expect(nsfsTargetId({ fstype: 'tmpfs', root: 'mnt:[1]' })).toBeNull();
  });

  it('finds only nsfs lines', () => {
    expect(parseNsfsMounts(FIXTURE).map((m) => m.target)).toEqual(['/root/mntns/1', '/run/netns/lab']);
    expect(parseNsfsMounts('27 1 254:0 / / rw - ext4 /dev/vda rw\n')).toEqual([]);
  });
});
