// Discovery, mount tables and diff against real namespaces, differential against util-linux on the same state.
import {
  closeSync,
  fstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Mount, NamespaceList } from '../../shared/api.js';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine, type NamespaceEngine, type NamespaceEntry } from '../../server/namespaces/engine.js';
import { readProcFile } from '../../server/mounts/read.js';
import { KernelFixtures, sh, shPersist } from '../helpers/kernel.js';
import { startNamespaceApp, type NsApp } from '../helpers/ns-app.js';

let engine: NamespaceEngine;
let app: NsApp;
/** per test (afterEach) */
const k = new KernelFixtures();
/** for the whole file (afterAll) */
const suite = new KernelFixtures();

beforeAll(async () => {
  engine = createNamespaceEngine({
    nsDir: path.join(suite.tempDir('nsconsole-nsdir-'), 'ns'),
    log: createLogger('silent'),
  });
  app = await startNamespaceApp(engine);
});
afterEach(() => k.cleanup());
afterAll(async () => {
  await app?.close();
  engine?.dispose();
  await k.cleanup();
  await suite.cleanup();
});

interface LsnsRow {
  ns: number;
  type: string;
  nprocs: number;
  pid: number;
  /** lsns -J nests mount namespaces by process ancestry */
  children?: LsnsRow[];
}

function lsns(): Map<string, LsnsRow> {
  const out = new Map<string, LsnsRow>();
  const walk = (rows: LsnsRow[]) => {
    for (const r of rows) {
      out.set(`${r.type}:${r.ns}`, r);
      walk(r.children ?? []);
    }
  };
  walk((JSON.parse(sh('lsns', ['-J'])) as { namespaces: LsnsRow[] }).namespaces);
  return out;
}

const brief = (r: { nprocs: number; pid: number | null }) => ({ nprocs: r.nprocs, pid: r.pid });

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false; // Swallow: gone since lsns saw it; the bracketing above already drops rows that changed
  }
}

/** Children of this process that are helpers (nsenter, cat, unshare, mount): none may outlive an engine call. */
function helperChildren(): string[] {
  const out: string[] = [];
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    const kids = readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').trim();
    for (const kid of kids ? kids.split(' ') : []) {
      let comm: string;
      try {
        comm = readFileSync(`/proc/${kid}/comm`, 'utf8').trim();
      } catch {
        continue; // Swallow: it exited (and was reaped) while we looked: it did not outlive anything
      }
      if (['nsenter', 'cat', 'unshare', 'mount', 'umount'].includes(comm)) out.push(`${kid} ${comm}`);
    }
  }
  return out;
}

/** findmnt's PROPAGATION words → the contract's. */
function fromFindmnt(p: string): string {
  const words = p.split(',');
  if (words.includes('unbindable')) return 'unbindable';
  if (words.includes('slave')) return words.includes('shared') ? 'slave,shared' : 'slave';
  return words.includes('shared') ? 'shared' : 'private';
}

describe('NamespaceEngine#list', () => {
  it('agrees with lsns -J on every namespace that has processes (ns, type, nprocs, pid)', async () => {
    const holder = await k.persistWithProcess(path.join(k.privateDir(), 'held'));
    // Other test files start and stop processes meanwhile. Bracket our scan with two lsns runs and compare the
    // rows that did not change in between; a process swapped for another in between can still fool that, so
    // the whole comparison is tried a few times and must come out exact once.
    let mismatches: string[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const before = lsns();
      const ours = await engine.list();
      const after = lsns();
      const byId = new Map(ours.namespaces.map((n) => [n.id, n]));
      mismatches = [];
      let compared = 0;
      for (const [id, row] of before) {
        const again = after.get(id);
        if (!again || again.nprocs !== row.nprocs || again.pid !== row.pid) continue;
        // A zombie (exited, its parent not yet reaping: here a sandbox init of another file's test, left to a
        // machine init that reaps now and then) keeps readable user and pid links; lsns lists those, we skip an
        // exited process as a whole.
        if (isZombie(row.pid)) continue;
        const mine = byId.get(id);
        // lsns counts itself: it runs in the test's (= the engine's) own namespaces.
        const lsnsItself = mine?.self ? 1 : 0;
        if (!mine || mine.type !== row.type || mine.nprocs !== row.nprocs - lsnsItself || mine.pid !== row.pid) {
          mismatches.push(`${id}: ours ${JSON.stringify(mine && brief(mine))}, lsns ${JSON.stringify(brief(row))}`);
        }
        compared++;
      }
      // Every namespace of ours with processes was seen by lsns too.
      for (const n of ours.namespaces)
        if (n.nprocs > 0 && !before.has(n.id) && !after.has(n.id)) mismatches.push(`${n.id}: lsns never saw it`);
      if (compared < 8) mismatches.push(`only ${compared} stable rows to compare`);
      expect(byId.get(holder.id)).toMatchObject({ nprocs: 1, pid: holder.holder.pid, type: 'mnt' });
      if (mismatches.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(mismatches).toEqual([]);
  });

  it('covers all eight types and marks the server’s own namespaces as self', async () => {
    const { namespaces } = await engine.list();
    for (const type of ['mnt', 'uts', 'ipc', 'net', 'pid', 'user', 'cgroup', 'time'] as const) {
      const own = namespaces.filter((n) => n.type === type && n.self);
      expect(own, type).toHaveLength(1);
      expect(own[0]?.id).toBe(engine.selfId(type));
      expect(own[0]?.id).toBe(`${type}:${readlinkSync(`/proc/self/ns/${type}`).slice(type.length + 2, -1)}`);
    }
  });

  it('reports an unreadable process as a problem instead of failing', async () => {
    let pid1Readable = true;
    try {
      readlinkSync('/proc/1/ns/mnt');
    } catch {
      pid1Readable = false;
    }
    const list = await engine.list();
    if (!pid1Readable) expect(list.problems).toContainEqual({ pid: 1, reason: expect.stringContaining('EACCES') });
    expect(list.namespaces.every((n) => n.pid !== 1 || pid1Readable)).toBe(true);
  });

  it('filters by type', async () => {
    const { namespaces } = await engine.list('net');
    expect(namespaces.length).toBeGreaterThan(0);
    expect(namespaces.every((n) => n.type === 'net')).toBe(true);
  });

  it('lists a persisted non-mount namespace with no process (NPROCS 0) and its nsfs path', async () => {
    const file = path.join(k.privateDir(), 'lab-net');
    writeFileSync(file, '');
    sh('unshare', [`--net=${file}`, '--', 'true']);
    const id = `net:${statSync(file, { bigint: true }).ino}`;
    const { namespaces } = await engine.list('net');
    expect(namespaces.find((n) => n.id === id)).toMatchObject({
      nprocs: 0,
      pid: null,
      user: null,
      command: null,
      nsfs: [file],
      self: false,
    });
    // A non-mount namespace shows the table a shell entered only into it sees: the server's own (mount ids
    // are per namespace, so the same id for / means the same table; other files may mount things meanwhile).
    const rootOf = async (nsId: string) => (await engine.mounts(nsId)).mounts.find((m) => m.target === '/')?.id;
    expect(await rootOf(id)).toBe(await rootOf(engine.selfId('mnt')));
  });
});

describe('the walkthrough, in a temp dir', () => {
  it('shows NPROCS 1 while a process holds it, then NPROCS 0 with its nsfs path; its tmpfs only inside', async () => {
    const dir = k.privateDir();
    const file = path.join(dir, '1');
    const target = path.join(k.tempDir(), 'mnt');
    mkdirSync(target);
    const { id, holder } = await k.persistWithProcess(file);
    k.inNs(file, ['mount', '-t', 'tmpfs', 'walkthrough-tmpfs', target]);
    k.inNs(file, ['touch', path.join(target, 'hi-there')]);
    const selfMnt = engine.selfId('mnt');

    const held = (await engine.list('mnt')).namespaces.find((n) => n.id === id);
    expect(held).toMatchObject({
      nprocs: 1,
      pid: holder.pid,
      nsfs: [file],
      user: 'root',
      command: 'sleep 1000',
      self: false,
    });

    await holder.kill();
    const persisted = (await engine.list('mnt')).namespaces.find((n) => n.id === id);
    expect(persisted).toMatchObject({ nprocs: 0, pid: null, nsfs: [file] });

    const isTmpfs = (m: Mount) => m.target === target && m.fstype === 'tmpfs' && m.source === 'walkthrough-tmpfs';
    const inside = await engine.mounts(id);
    expect(inside.namespace.id).toBe(id);
    expect(inside.mounts.filter(isTmpfs)).toHaveLength(1);
    expect(helperChildren()).toEqual([]);
    expect((await engine.mounts(selfMnt)).mounts.filter(isTmpfs)).toEqual([]);

    const diff = await engine.diff(id, selfMnt);
    expect(diff.onlyA.filter(isTmpfs)).toHaveLength(1);
    expect(diff.onlyB.filter(isTmpfs)).toHaveLength(0);

    // The same through HTTP.
    const list = (await (await app.request('/api/namespaces?type=mnt')).json()) as NamespaceList;
    expect(list.namespaces.find((n) => n.id === id)).toMatchObject({ nprocs: 0, nsfs: [file] });
    const table = await app.request(`/api/namespaces/${id}/mounts`);
    expect(table.status).toBe(200);
    expect(((await table.json()) as { mounts: Mount[] }).mounts.filter(isTmpfs)).toHaveLength(1);
    const d = await app.request(`/api/namespaces/${id}/diff/${selfMnt}`);
    expect(((await d.json()) as { onlyA: Mount[] }).onlyA.filter(isTmpfs)).toHaveLength(1);
    expect(helperChildren()).toEqual([]);

    expectEntry(await engine.entryFor(id), id);
  });

  it('finds a namespace bound only inside another persisted one, and reads its table', async () => {
    const outer = path.join(k.privateDir(), 'outer');
    const outerId = k.persistMountNs(outer);
    const innerDir = k.tempDir();
    k.inNs(outer, ['mount', '--bind', '--make-private', innerDir, innerDir]);
    k.inNs(outer, ['touch', path.join(innerDir, 'inner')]);
    shPersist('nsenter', [
      `--mount=${outer}`,
      '--',
      'unshare',
      `--mount=${path.join(innerDir, 'inner')}`,
      '--propagation',
      'private',
      '--',
      'mount',
      '-t',
      'tmpfs',
      'only-inner',
      innerDir,
    ]);
    const { namespaces } = await engine.list('mnt');
    const inner = namespaces.find((n) => n.nsfs.includes(`[${outerId}]${path.join(innerDir, 'inner')}`));
    expect(inner).toMatchObject({ nprocs: 0, pid: null });
    const table = await engine.mounts(inner!.id);
    expect(table.mounts.some((m) => m.source === 'only-inner' && m.target === innerDir)).toBe(true);
    expect(helperChildren()).toEqual([]);
    await expect(engine.entryFor(inner!.id)).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
  });
});

describe('NamespaceEngine#mounts', () => {
  it('agrees with findmnt -J --task PID (targets, fstype, propagation)', async () => {
    const dir = k.privateDir();
    const { id, holder } = await k.persistWithProcess(path.join(dir, 'fm'));
    const targets = k.tempDir();
    for (const [i, prop] of ['private', 'shared', 'slave', 'unbindable'].entries()) {
      const t = path.join(targets, `m${i}`);
      mkdirSync(t);
      k.inNs(path.join(dir, 'fm'), ['mount', '-t', 'tmpfs', `fm${i}`, t]);
      if (prop === 'slave') k.inNs(path.join(dir, 'fm'), ['mount', '--make-shared', t]);
      k.inNs(path.join(dir, 'fm'), ['mount', `--make-${prop}`, t]);
    }
    const fm = JSON.parse(
      sh('findmnt', ['-J', '--list', '--task', String(holder.pid), '-o', 'TARGET,SOURCE,FSTYPE,PROPAGATION']),
    ) as {
      filesystems: { target: string; source: string; fstype: string; propagation: string }[];
    };
    const theirs = fm.filesystems.map((f) => `${f.target} ${f.fstype} ${fromFindmnt(f.propagation)}`).sort();
    const ours = (await engine.mounts(id)).mounts.map((m) => `${m.target} ${m.fstype} ${m.propagation}`).sort();
    expect(ours).toEqual(theirs);
    expect(ours).toContain(`${path.join(targets, 'm3')} tmpfs unbindable`);
  });

  it('round-trips mount points with spaces, tabs, newlines and backslashes', async () => {
    const file = path.join(k.privateDir(), 'odd');
    const id = k.persistMountNs(file);
    const odd = path.join(k.tempDir(), 'a b\tc\nd\\e');
    mkdirSync(odd);
    k.inNs(file, ['mount', '-t', 'tmpfs', 'src with space', odd]);
    const found = (await engine.mounts(id)).mounts.filter((m) => m.target === odd);
    expect(found).toMatchObject([{ source: 'src with space', fstype: 'tmpfs' }]);
  });

  it('answers 400 for a malformed id and 404 for an unknown one', async () => {
    await expect(engine.mounts('mnt:abc')).rejects.toMatchObject({ code: 'BAD_NAMESPACE_ID' });
    await expect(engine.get('mnt:1')).rejects.toMatchObject({ code: 'NS_NOT_FOUND' });
    const bad = await app.request('/api/namespaces/not-an-id/mounts');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_NAMESPACE_ID' } });
    const unknown = await app.request('/api/namespaces/mnt:1/mounts');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'NS_NOT_FOUND' } });
    expect((await app.request(`/api/namespaces/mnt:1/diff/${engine.selfId('mnt')}`)).status).toBe(404);
    expect((await app.request('/api/namespaces?type=bogus')).status).toBe(400);
  });
});

describe('readProcFile', () => {
  it('reads a whole /proc file and files larger than its buffer', () => {
    expect(readProcFile('/proc/self/mountinfo').toString()).toBe(readFileSync('/proc/self/mountinfo', 'utf8'));
    const big = path.join(k.tempDir(), 'big');
    const text = Array.from({ length: 60_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 40)}`).join('\n');
    writeFileSync(big, text);
    expect(readProcFile(big).toString()).toBe(text);
  });
});

/** An entry is the namespace opened by fd (what nsenter enters): check it points at `id`, then close it. */
function expectEntry(entry: NamespaceEntry, id: string): void {
  try {
    expect(entry).toMatchObject({ type: id.slice(0, id.indexOf(':')), id });
    const st = fstatSync(entry.fd);
    expect([st.dev, st.ino]).toEqual([statSync('/proc/self/ns/mnt').dev, Number(id.slice(4))]);
  } finally {
    closeSync(entry.fd);
  }
}

describe('NamespaceEngine#entryFor and #nsOfPid', () => {
  it('gives a verified PID for a namespace that is not persisted', async () => {
    const { pid } = await k.unpersistedNs();
    const id = await engine.nsOfPid(pid, 'mnt');
    expect(id).not.toBe(engine.selfId('mnt'));
    expectEntry(await engine.entryFor(id!), id!);
    expect(await engine.nsOfPid(process.pid, 'mnt')).toBe(engine.selfId('mnt'));
    expect(await engine.nsOfPid(4_000_000, 'mnt')).toBeNull();
  });
});
