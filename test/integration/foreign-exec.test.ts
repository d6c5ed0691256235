// Issue 15 item 1: discovery never executes a program found inside a mount namespace it did not create.
// An unprivileged user (nobody, in its own user namespace) replaces every `cat` and `nsenter` its namespaces
// see with a fake that leaves a marker, and persists mount namespaces with no process: one bound in its own
// namespace, one bound only inside that one. The server must list both with their mounts and never run a fake.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Mount, Namespace, NamespaceList } from '../../shared/api.js';
import { parseMountinfo } from '../../server/mounts/mountinfo.js';
import { loadMountNsReader } from '../../server/kernel/statmount.js';
import { forceProcesslessReadMode } from '../../server/mounts/by-id.js';
import { nsCpuOf } from '../../server/sandbox/sandbox.js';
import { KernelFixtures, mntOf, waitFor } from '../helpers/kernel.js';
import { REPO_ROOT, startServer, type TestServer } from '../helpers/server.js';
import { spawnServer, type ServerProcess } from '../helpers/process.js';

const NOBODY = 65534;
const SCRIPT = path.join(REPO_ROOT, 'test/fixtures/hostile-mntns.sh');
/** the kernel calls this file depends on; without them the server must say so instead of reading */
const kernelReads = 'reader' in loadMountNsReader();

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.close();
});

interface Attacker {
  /** the sleeping process in the attacker's own mount namespace */
  pid: number;
  dir: string;
  /**
   * Lines the fakes wrote that this process (the server runs in it) caused: a fake's parent is whoever ran
   * nsenter, which execs in place. Read through the attacker's process: the fakes' tmpfs is only in its
   * namespaces. (Other servers on a shared machine may run the fakes too; their lines name another parent.)
   */
  ranByUs(serverPid?: number): string[];
  stop(): Promise<void>;
}

async function startAttacker(extra: string[] = []): Promise<Attacker> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-foreign-'));
  chmodSync(dir, 0o755);
  chownSync(dir, NOBODY, NOBODY);
  const child: ChildProcess = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      '--',
      // On one CPU: Linux 6.18 numbers namespaces in per-CPU batches, and binding a mount namespace made on the
      // other CPU can fail with EINVAL (see server/sandbox/sandbox.ts nsCpuOf); the script's retries then stack
      // a second bind over the first.
      'taskset',
      '--cpu-list',
      String(nsCpuOf(readFileSync('/proc/self/status', 'utf8'))),
      'unshare',
      '-Urm',
      '--',
      '/bin/sh',
      SCRIPT,
      dir,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => out.includes('READY') || child.exitCode !== null,
      'the attacker to persist its namespaces',
      15_000,
    );
    if (!out.includes('READY')) throw new Error(`attacker fixture failed: ${out}`);
  } catch (err) {
    await stop();
    throw err;
  }
  const pid = child.pid as number;
  return {
    pid,
    dir,
    ranByUs: (serverPid = process.pid) => {
      const file = `/proc/${pid}/root/usr/local/sbin/ran`;
      const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
      return lines.filter((l) => l.split(' ')[1] === String(serverPid));
    },
    stop,
  };
}

async function list(): Promise<Namespace[]> {
  const res = await srv.api('/api/namespaces?type=mnt');
  expect(res.status).toBe(200);
  return ((await res.json()) as NamespaceList).namespaces;
}

async function mountsOf(id: string): Promise<{ status: number; mounts: Mount[]; body: unknown }> {
  const res = await srv.api(`/api/namespaces/${id}/mounts`);
  const body = (await res.json()) as { mounts?: Mount[] };
  return { status: res.status, mounts: body.mounts ?? [], body };
}

// 'by-id': listmount/statmount (Linux 6.15+, this machine). 'enter': the fallback for older kernels, a helper
// exec'd from the host's tree that then only enters and reads (forced here on a kernel that has both).
describe.each([
  { mode: 'by-id' as const, readable: kernelReads },
  { mode: 'enter' as const, readable: true },
])('discovery of another user’s processless mount namespaces ($mode)', ({ mode, readable }) => {
  let attacker: Attacker | null = null;
  beforeAll(() => forceProcesslessReadMode(mode));
  afterAll(() => forceProcesslessReadMode(null));
  afterEach(async () => {
    await attacker?.stop();
    attacker = null;
  });

  it('lists them with their mounts and never runs their cat or nsenter (chains of two included)', async () => {
    attacker = await startAttacker();
    const holder = mntOf(attacker.pid) as string;
    const outerFile = path.join(attacker.dir, 'outer/ns');
    const innerFile = path.join(attacker.dir, 'inner/sub/ns2');

    // Listing twice: the first scan reads every table, the second is what the UI's periodic rescans do.
    let namespaces = await list();
    namespaces = await list();
    expect(attacker.ranByUs(), 'programs from the attacker’s namespaces run by this server').toEqual([]);
    const ns = namespaces.find((n) => n.nsfs.includes(`[${holder}]${outerFile}`));
    // (NPROCS may be 1 for a moment: other servers on this machine may be reading it the old way, with nsenter.)
    expect(ns, 'the namespace bound in the attacker’s own namespace').toBeDefined();
    const ns2 = namespaces.find((n) => n.nsfs.some((p) => p.endsWith(`]${innerFile}`)));
    expect(ns2, 'the namespace bound only inside the processless one').toBeDefined();

    if (readable) {
      expect(ns?.error).toBeUndefined();
      expect(ns2?.nsfs).toEqual([`[${ns?.id}]${innerFile}`]);
      const t1 = await mountsOf(ns!.id);
      expect(t1.status).toBe(200);
      expect(t1.mounts.filter((m) => m.source === 'fake-bin').map((m) => m.target)).toContain('/usr/local/sbin');
      expect(t1.mounts.some((m) => m.source === 'only-in-ns' && m.target === path.join(attacker!.dir, 'inner'))).toBe(
        true,
      );
      const t2 = await mountsOf(ns2!.id);
      expect(t2.status).toBe(200);
      expect(t2.mounts.some((m) => m.source === 'only-in-ns2' && m.target === '/mnt')).toBe(true);
      const diff = await srv.api(`/api/namespaces/${ns2!.id}/diff/${ns!.id}`);
      expect(diff.status).toBe(200);
    } else {
      // Without listmount/statmount by namespace id: unreadable, with the kernel requirement in words.
      expect(ns?.error).toMatch(/Linux 6\.1\d/);
      expect((await mountsOf(ns!.id)).status).toBe(501);
    }

    // Watching the table (what selecting the row does) reads it too.
    const ws = srv.ws('/ws/events');
    try {
      const got = new Promise<void>((resolve) => {
        ws.on('message', (data: Buffer) => {
          const msg = JSON.parse(data.toString()) as { type: string; id?: string };
          if (msg.type === 'mounts' && msg.id === ns!.id) resolve();
        });
      });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'watch', ids: [ns!.id, ns2!.id] })));
      if (readable) await got;
    } finally {
      ws.close();
    }
    expect(attacker.ranByUs()).toEqual([]);
  });
});

describe.each([
  { mode: 'by-id' as const, readable: kernelReads },
  { mode: 'enter' as const, readable: true },
])('a processless namespace’s mounts ($mode)', ({ mode, readable }) => {
  const k = new KernelFixtures();
  beforeAll(() => forceProcesslessReadMode(mode));
  afterAll(() => forceProcesslessReadMode(null));
  afterEach(() => k.cleanup());

  it.skipIf(!readable)('are exactly what a process in it reads from /proc/PID/mountinfo', async () => {
    const dir = k.privateDir();
    const file = path.join(dir, 'ns');
    const id = k.persistMountNs(file);
    const t = path.join(dir, 'targets');
    mkdirSync(t);
    const at = (name: string) => {
      mkdirSync(path.join(t, name));
      return path.join(t, name);
    };
    const a = at('ro nosuid'),
      b = at('noatime'),
      c = at('shared'),
      d = at('slave'),
      e = at('unbindable\\odd'),
      f = at('proc');
    k.inNs(file, ['mount', '-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec,size=1m,mode=700', 'src with space', a]);
    k.inNs(file, ['mount', '-t', 'tmpfs', '-o', 'noatime,nodiratime,sync', 'src2', b]);
    k.inNs(file, ['mount', '-t', 'tmpfs', '-o', 'strictatime,nosymfollow,lazytime', 'src3', c]);
    k.inNs(file, ['mount', '--make-shared', c]);
    k.inNs(file, ['mkdir', path.join(c, 'sub')]);
    k.inNs(file, ['mount', '--bind', path.join(c, 'sub'), d]);
    k.inNs(file, ['mount', '--make-slave', d]);
    k.inNs(file, ['mount', '-t', 'tmpfs', 'x', e]);
    k.inNs(file, ['mount', '--make-unbindable', e]);
    k.inNs(file, ['mount', '-t', 'proc', 'proc', f]);

    const res = await srv.api(`/api/namespaces/${id}/mounts`);
    expect(res.status).toBe(200);
    const processless = ((await res.json()) as { mounts: Mount[] }).mounts;

    const holder = await k.holdNs(file);
    const fromProc = parseMountinfo(readFileSync(`/proc/${holder.pid}/mountinfo`, 'utf8'));
    expect(processless).toEqual(fromProc);
    expect(processless.find((m) => m.target === d)).toMatchObject({ root: '/sub', propagation: 'slave' });
  });
});

// The bind path of a processless namespace lies in a tree its owner controls (/proc/PID/root/…). A FIFO bound
// over it must not be open()ed: that blocks the server's only thread for good (main: every list hung).
describe('a FIFO bound over another user’s nsfs bind', () => {
  let attacker: Attacker | null = null;
  let server: ServerProcess | null = null;
  afterEach(async () => {
    if (server) {
      // A server stuck in open(2) never runs its SIGTERM handler: SIGKILL it after a grace period.
      const s = server;
      const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000);
      await s.stop();
      clearTimeout(timer);
    }
    server = null;
    await attacker?.stop();
    attacker = null;
  });

  it('neither blocks the server nor hides the namespace', async () => {
    attacker = await startAttacker(['fifo']);
    server = await spawnServer();
    const holder = mntOf(attacker.pid) as string;
    const get = (p: string) =>
      fetch(server!.base + p, {
        headers: { authorization: `Bearer ${server!.token}` },
        signal: AbortSignal.timeout(15_000),
      });
    const res = await get('/api/namespaces?type=mnt');
    expect(res.status).toBe(200);
    const ns = ((await res.json()) as NamespaceList).namespaces.find((n) =>
      n.nsfs.includes(`[${holder}]${path.join(attacker!.dir, 'outer/ns')}`),
    );
    expect(ns).toBeDefined();
    expect((await get('/api/health')).status).toBe(200);
    if (kernelReads) expect((await get(`/api/namespaces/${ns!.id}/mounts`)).status).toBe(200);
    expect(attacker.ranByUs(server.child.pid as number)).toEqual([]);
  });
});
