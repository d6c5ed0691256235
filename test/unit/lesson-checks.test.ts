// The check language on fixtures: mountinfo text and namespace lists in the kernel's and the engine's shapes,
// the panes' foreground processes and files as a stand-in Facts.
import { describe, expect, it } from 'vitest';
import type { Namespace, NsType } from '../../shared/api.js';
import { parseMountinfo } from '../../server/mounts/mountinfo.js';
import { evaluateCheck, evaluateStep, type CheckContext, type Facts } from '../../server/lessons/checks.js';
import type { Check } from '../../server/lessons/schema.js';

const W = '/tmp/nsconsole-lessons-T/demo';
const SELF = 'mnt:4026531832';
const INSIDE = 'mnt:4026532200';
const HELD = 'mnt:4026532300';

const OUTSIDE_TABLE = parseMountinfo(
  [
    '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    `68 27 254:0 ${W}/shared ${W}/shared rw,relatime shared:11 - ext4 /dev/vda rw`,
    `69 27 254:0 ${W}/mntns ${W}/mntns rw,relatime - ext4 /dev/vda rw`,
    `97 69 0:4 mnt:[4026532300] ${W}/mntns/1 rw - nsfs nsfs rw`,
    `99 68 0:51 / ${W}/shared/a rw,relatime shared:12 - tmpfs lesson-a rw`,
    `100 27 254:0 ${W}/u ${W}/u rw,relatime unbindable - ext4 /dev/vda rw`,
    '',
  ].join('\n'),
);
const INSIDE_TABLE = parseMountinfo(
  [
    '71 70 254:0 / / rw,relatime - ext4 /dev/vda rw',
    `95 71 254:0 ${W}/shared ${W}/shared rw,relatime master:11 - ext4 /dev/vda rw`,
    `98 95 0:51 / ${W}/shared/a rw,relatime shared:12 - tmpfs lesson-a rw`,
    `101 71 0:60 / ${W}/mnt rw,relatime - tmpfs tmpfs rw`,
    '',
  ].join('\n'),
);

function ns(id: string, nprocs: number, nsfs: string[], pid: number | null): Namespace {
  const [type, inode] = id.split(':') as [NsType, string];
  return { id, type, inode: Number(inode), nprocs, pid, user: 'root', command: 'bash', nsfs, self: id === SELF };
}

function ctx(over: Partial<Facts> = {}): CheckContext {
  const facts: Facts = {
    namespaces: [
      ns(SELF, 100, [], 1),
      ns(INSIDE, 1, [], 500),
      ns(HELD, 0, [`${W}/mntns/1`], null),
      ns('uts:4026532400', 1, [`${W}/uts`], 500),
    ],
    selfId: (t) => (t === 'mnt' ? SELF : `${t}:4026531838`),
    paneForeground: (pane) => (pane === 'inside' ? { pid: 500, command: 'bash' } : { pid: 400, command: 'bash' }),
    nsOfPid: (pid, t) =>
      t === 'mnt' ? (pid === 500 ? INSIDE : SELF) : pid === 500 ? 'uts:4026532400' : `${t}:4026531838`,
    mounts: (id) => (id === SELF ? OUTSIDE_TABLE : id === INSIDE ? INSIDE_TABLE : null),
    stat: (pid, path) =>
      pid === 500 && path === `${W}/mnt/hi-there` ? 'file' : path === `${W}/mntns/1` ? 'file' : null,
    ...over,
  };
  return { facts, short: (p) => (p.startsWith(W + '/') ? '…/' + p.slice(W.length + 1) : p) };
}

const check = (c: Check) => evaluateCheck(ctx(), c);
const reason = (c: Check) => {
  const r = check(c);
  return r.ok ? 'ok' : r.reason;
};

describe('mount checks', () => {
  it('knows a mount point, its propagation and fstype, per namespace', () => {
    expect(check({ kind: 'mount', mount: `${W}/mntns`, in: 'outside', exists: true, propagation: 'private' })).toEqual({
      ok: true,
    });
    expect(check({ kind: 'mount', mount: `${W}/shared`, in: 'inside', exists: true, propagation: 'slave' })).toEqual({
      ok: true,
    });
    expect(check({ kind: 'mount', mount: `${W}/u`, in: 'outside', exists: true, propagation: 'unbindable' })).toEqual({
      ok: true,
    });
    expect(check({ kind: 'mount', mount: `${W}/mntns/1`, in: 'outside', exists: true, fstype: 'nsfs' })).toEqual({
      ok: true,
    });
  });

  it('says what the kernel shows instead', () => {
    expect(reason({ kind: 'mount', mount: `${W}/nothere`, in: 'outside', exists: true })).toBe(
      '…/nothere is not a mount point outside; it is on the shared ext4 mount at /',
    );
    expect(reason({ kind: 'mount', mount: `${W}/shared`, in: 'outside', exists: true, propagation: 'private' })).toBe(
      '…/shared is a shared mount outside, not private',
    );
    expect(reason({ kind: 'mount', mount: `${W}/mnt`, in: 'inside', exists: true, fstype: 'proc' })).toBe(
      '…/mnt inside is tmpfs, not proc',
    );
    expect(reason({ kind: 'mount', mount: `${W}/mntns`, in: 'outside', exists: false })).toBe(
      '…/mntns is still a ext4 mount point outside',
    );
  });

  it('tells only-inside, only-outside and both apart', () => {
    expect(
      check({ kind: 'mount', mount: `${W}/mnt`, in: 'inside', exists: true, fstype: 'tmpfs', 'not-in': 'outside' }),
    ).toEqual({ ok: true });
    expect(reason({ kind: 'mount', mount: `${W}/mnt`, in: 'inside', exists: true, 'also-in': 'outside' })).toMatch(
      /^…\/mnt is not a mount point outside/,
    );
    expect(check({ kind: 'mount', mount: `${W}/shared/a`, in: 'inside', exists: true, 'also-in': 'outside' })).toEqual({
      ok: true,
    });
    expect(reason({ kind: 'mount', mount: `${W}/shared/a`, in: 'inside', exists: true, 'not-in': 'outside' })).toBe(
      '…/shared/a is mounted outside too',
    );
    expect(check({ kind: 'mount', mount: `${W}/mntns`, in: 'outside', exists: true, 'not-in': 'inside' })).toEqual({
      ok: true,
    });
  });

  it('refuses to compare a namespace with itself', () => {
    const same = ctx({ nsOfPid: (_p, t) => (t === 'mnt' ? SELF : `${t}:1`) });
    const r = evaluateCheck(same, {
      kind: 'mount',
      mount: `${W}/mntns`,
      in: 'inside',
      exists: true,
      'not-in': 'outside',
    });
    expect(r).toEqual({ ok: false, reason: `inside and outside are the same mount namespace (${SELF})` });
  });

  it('reads the table of a namespace persisted at a path, and says when it has none', () => {
    expect(reason({ kind: 'mount', mount: '/', in: `${W}/nope`, exists: true })).toBe(
      'no namespace is persisted at …/nope',
    );
    expect(reason({ kind: 'mount', mount: '/', in: `${W}/mntns/1`, exists: true })).toBe(
      'the mount table in the namespace persisted at …/mntns/1 is not read yet',
    );
    expect(reason({ kind: 'mount', mount: '/', in: `${W}/uts`, exists: true })).toBe(
      '…/uts holds a uts namespace, not a mnt one',
    );
  });
});

describe('persisted, pane and file checks', () => {
  it('counts the processes of a persisted namespace', () => {
    expect(check({ kind: 'persisted', persisted: `${W}/mntns/1`, type: 'mnt', nprocs: 0, exists: true })).toEqual({
      ok: true,
    });
    expect(reason({ kind: 'persisted', persisted: `${W}/mntns/1`, nprocs: 1, exists: true })).toBe(
      'the namespace persisted at …/mntns/1 has 0 processes, not 1',
    );
    expect(reason({ kind: 'persisted', persisted: `${W}/mntns/2`, exists: true })).toBe(
      'no namespace is persisted at …/mntns/2',
    );
    expect(check({ kind: 'persisted', persisted: `${W}/mntns/2`, exists: false })).toEqual({ ok: true });
    expect(reason({ kind: 'persisted', persisted: `${W}/uts`, type: 'mnt', exists: true })).toBe(
      'no mnt namespace is persisted at …/uts',
    );
  });

  it("knows which namespace a pane's foreground process is in", () => {
    expect(
      check({ kind: 'pane', pane: 'inside', type: 'uts', 'same-as': `${W}/uts`, 'differs-from': 'outside' }),
    ).toEqual({ ok: true });
    expect(reason({ kind: 'pane', pane: 'outside', type: 'uts', 'same-as': `${W}/uts` })).toBe(
      "the Outside pane runs bash (pid 400) in the server's own uts namespace (uts:4026531838)",
    );
    expect(reason({ kind: 'pane', pane: 'inside', type: 'mnt', 'same-as': 'outside' })).toBe(
      `the Inside pane runs bash (pid 500) in mnt namespace ${INSIDE}`,
    );
    const gone = ctx({ paneForeground: () => null });
    expect(evaluateCheck(gone, { kind: 'pane', pane: 'inside', type: 'mnt', 'same-as': 'outside' })).toEqual({
      ok: false,
      reason: 'the Inside pane has no running shell the lesson knows of',
    });
  });

  it('looks at files through a process in the namespace', () => {
    expect(check({ kind: 'file', file: `${W}/mnt/hi-there`, in: 'inside', exists: true })).toEqual({ ok: true });
    expect(reason({ kind: 'file', file: `${W}/mnt/hi-there`, in: 'outside', exists: true })).toBe(
      '…/mnt/hi-there does not exist outside',
    );
    expect(check({ kind: 'file', file: `${W}/mnt/hi-there`, in: 'outside', exists: false })).toEqual({ ok: true });
    expect(reason({ kind: 'file', file: `${W}/mntns/1`, in: 'outside', exists: true, is: 'directory' })).toBe(
      '…/mntns/1 outside is a file, not a directory',
    );
    expect(reason({ kind: 'file', file: '/etc/hostname', in: `${W}/mntns/1`, exists: true })).toBe(
      'no process is in the namespace persisted at …/mntns/1, so nothing can look at its files',
    );
  });
});

describe('peer and master relations', () => {
  it('finds peers across namespaces', () => {
    const a = { mount: `${W}/shared/a`, in: 'outside' as const };
    const b = { mount: `${W}/shared/a`, in: 'inside' as const };
    expect(check({ kind: 'peers', peers: [a, b] })).toEqual({ ok: true });
    expect(reason({ kind: 'not-peers', 'not-peers': [a, b] })).toBe(
      '…/shared/a outside and …/shared/a inside are still peers (peer group 12)',
    );
    const s1 = { mount: `${W}/shared`, in: 'outside' as const };
    const s2 = { mount: `${W}/shared`, in: 'inside' as const };
    expect(reason({ kind: 'peers', peers: [s1, s2] })).toBe(
      '…/shared outside is in peer group 11, …/shared inside is slave (in no peer group)',
    );
    expect(check({ kind: 'not-peers', 'not-peers': [s1, s2] })).toEqual({ ok: true });
  });

  it('finds the master of a slave', () => {
    const outside = { mount: `${W}/shared`, in: 'outside' as const };
    const inside = { mount: `${W}/shared`, in: 'inside' as const };
    expect(check({ kind: 'master', master: outside, slave: inside })).toEqual({ ok: true });
    expect(reason({ kind: 'master', master: inside, slave: outside })).toBe(
      '…/shared inside is slave: a master must be shared',
    );
    expect(reason({ kind: 'master', master: { mount: `${W}/shared/a`, in: 'outside' }, slave: inside })).toBe(
      '…/shared inside receives from peer group 11, and …/shared/a outside is in peer group 12',
    );
  });

  it('a step is its first failing check', () => {
    const r = evaluateStep(ctx(), [
      { kind: 'mount', mount: `${W}/mntns`, in: 'outside', exists: true, propagation: 'private' },
      { kind: 'persisted', persisted: `${W}/mntns/1`, nprocs: 1, exists: true },
      { kind: 'mount', mount: '/nowhere', in: 'outside', exists: true },
    ]);
    expect(r).toEqual({ ok: false, reason: 'the namespace persisted at …/mntns/1 has 0 processes, not 1' });
  });
});
