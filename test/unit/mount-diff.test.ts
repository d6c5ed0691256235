import { describe, expect, it } from 'vitest';
import type { Mount } from '../../shared/api.js';
import { diffMounts, diffRows, mountIdentity, sameRows } from '../../shared/mount-diff.js';

function mount(over: Partial<Mount>): Mount {
  return {
    id: 1,
    parentId: 0,
    target: '/',
    source: '/dev/vda',
    fstype: 'ext4',
    options: 'rw,relatime',
    superOptions: 'rw',
    root: '/',
    propagation: 'private',
    ...over,
  };
}

// One diff for server and browser (shared/mount-diff.ts): the API's MountDiff and the Mounts table's rows.
describe('diffMounts', () => {
  const root = mount({ id: 27 });
  const proc = mount({ id: 22, parentId: 27, target: '/proc', source: 'proc', fstype: 'proc' });

  it('matches by identity, not by mount id (a copied namespace renumbers everything)', () => {
    const b = [mount({ id: 900 }), mount({ id: 901, parentId: 900, target: '/proc', source: 'proc', fstype: 'proc' })];
    expect(diffMounts([root, proc], b)).toEqual({ onlyA: [], onlyB: [], changed: [] });
  });

  it('reports a tmpfs mounted only inside as onlyA', () => {
    const tmp = mount({ id: 50, parentId: 27, target: '/mnt', source: '/mnt', fstype: 'tmpfs' });
    const d = diffMounts([root, proc, tmp], [root, proc]);
    expect(d.onlyA).toEqual([tmp]);
    expect(d.onlyB).toEqual([]);
  });

  it('reports mounts only in B as onlyB, in B order', () => {
    const x = mount({ id: 60, target: '/x', fstype: 'tmpfs', source: 'x' });
    const y = mount({ id: 61, target: '/y', fstype: 'tmpfs', source: 'y' });
    expect(diffMounts([root], [y, root, x]).onlyB).toEqual([y, x]);
  });

  it('reports options and propagation changes as changed', () => {
    const ro = mount({ ...proc, options: 'ro,relatime' });
    const shared = mount({ ...root, propagation: 'shared', peerGroup: 1 });
    const d = diffMounts([root, proc], [shared, ro]);
    expect(d.changed).toEqual([
      { a: root, b: shared },
      { a: proc, b: ro },
    ]);
    expect(d.onlyA).toEqual([]);
  });

  it('treats a different source, fstype or root as a different mount', () => {
    for (const over of [{ source: 'other' }, { fstype: 'xfs' }, { root: '/sub' }]) {
      const d = diffMounts([root], [mount(over)]);
      expect(d.onlyA).toHaveLength(1);
      expect(d.onlyB).toHaveLength(1);
    }
  });

  it('pairs stacked mounts with the same identity in order', () => {
    const first = mount({ id: 70, target: '/m', fstype: 'tmpfs', source: 't' });
    const second = mount({ id: 71, parentId: 70, target: '/m', fstype: 'tmpfs', source: 't' });
    const d = diffMounts([first, second], [mount({ id: 5, target: '/m', fstype: 'tmpfs', source: 't' })]);
    expect(d.onlyA).toEqual([second]);
    expect(d.changed).toEqual([]);
  });

  it('keys identity unambiguously', () => {
    expect(mountIdentity(mount({ target: '/a b', source: 'c' }))).not.toBe(
      mountIdentity(mount({ target: '/a', source: 'b c' })),
    );
  });
});

describe('diffRows (the browser Mounts table)', () => {
  const root = mount({ id: 27 });
  const proc = mount({ id: 22, parentId: 27, target: '/proc', source: 'proc', fstype: 'proc' });
  const tmp = mount({ id: 50, parentId: 27, target: '/mnt', source: '/mnt', fstype: 'tmpfs' });
  const gone = mount({ id: 60, target: '/gone', fstype: 'tmpfs', source: 'g' });

  it('puts what differs first: only-inside, only-outside, changed, then same, each in table order', () => {
    const outsideRoot = mount({ id: 1, propagation: 'shared', peerGroup: 1 });
    const outsideProc = mount({ id: 2, parentId: 1, target: '/proc', source: 'proc', fstype: 'proc' });
    const rows = diffRows([root, proc, tmp], [outsideRoot, gone, outsideProc]);
    expect(rows.map((r) => [r.kind, r.key])).toEqual([
      ['only-inside', 'i50'],
      ['only-outside', 'o60'],
      ['changed', 'i27'],
      ['same', 'i22'],
    ]);
    expect(rows[2]).toMatchObject({ outside: outsideRoot, changes: ['PROPAGATION'] });
  });

  it('names both columns when options and propagation differ, and agrees with diffMounts', () => {
    const other = mount({ id: 9, options: 'ro', propagation: 'slave', masterGroup: 3 });
    expect(diffRows([root], [other])[0]?.changes).toEqual(['OPTIONS', 'PROPAGATION']);
    expect(diffMounts([root], [other]).changed).toEqual([{ a: root, b: other }]);
  });

  it('ignores group numbers: the same propagation kind with other peer groups is the same', () => {
    const a = mount({ propagation: 'shared', peerGroup: 1 });
    const b = mount({ id: 2, propagation: 'shared', peerGroup: 7 });
    expect(diffRows([a], [b])[0]?.kind).toBe('same');
    expect(diffMounts([a], [b]).changed).toEqual([]);
  });

  it('sameRows marks every mount same with itself as the outside twin', () => {
    expect(sameRows([root, proc])).toEqual([
      { key: 'i27', kind: 'same', mount: root, outside: root, changes: [] },
      { key: 'i22', kind: 'same', mount: proc, outside: proc, changes: [] },
    ]);
  });
});
