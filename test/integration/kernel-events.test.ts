// The kernel's own change reports that replace polling: fanotify mount events per mount namespace and the proc
// connector's process events. Real namespaces, real mounts, real processes.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { EventWaiter } from '../../server/kernel/event-waiter.js';
import { loadLibc, type Libc } from '../../server/kernel/libc.js';
import { openProcessEvents } from '../../server/kernel/process-events.js';
import { createMountNotifier, type MountNotifier } from '../../server/mounts/mount-notify.js';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine, type NamespaceEngine } from '../../server/namespaces/engine.js';
import { KernelFixtures, mntOf, sh, waitFor } from '../helpers/kernel.js';

const log = createLogger('silent');
const fx = new KernelFixtures();
const disposers: (() => void)[] = [];

afterEach(async () => {
  for (const d of disposers.splice(0).reverse()) d();
  await fx.cleanup();
});

function notifier(): MountNotifier {
  const libc = loadLibc() as Libc;
  const waiter = new EventWaiter(libc, log);
  const n = createMountNotifier(libc, waiter, log);
  disposers.push(
    () => waiter.dispose(),
    () => n.dispose(),
  );
  expect(n.available).toBe(true); // Linux 6.15+ as root: these machines
  return n;
}

const inodeOf = (id: string) => id.slice(4);

describe('mount notifier', () => {
  it('fires on a mount in the tracked namespace, and when that namespace dies: the mark never pins it', async () => {
    const n = notifier();
    const holder = await fx.unpersistedNs();
    const id = mntOf(holder.pid) as string;
    let fired = 0;
    const t = n.track(`/proc/${holder.pid}/ns/mnt`, inodeOf(id), () => fired++);
    expect(t).not.toBeNull();
    const dir = fx.tempDir();
    sh('nsenter', ['-t', String(holder.pid), '-m', 'mount', '-t', 'tmpfs', 'kernel-events', dir]);
    await waitFor(() => fired === 1, 'the tracker to fire on a mount');
    expect(t?.fired).toBe(true);

    // Tracked again, then its only process exits: the namespace is torn down (every mount detaches), which
    // only happens if nothing — our mark included — holds it.
    const again = n.track(`/proc/${holder.pid}/ns/mnt`, inodeOf(id), () => fired++);
    await holder.kill();
    await waitFor(() => fired === 2, 'the tracker to fire when the namespace died');
    expect(again?.fired).toBe(true);
  });

  it('refuses a path that is not the namespace asked for', async () => {
    const n = notifier();
    const holder = await fx.unpersistedNs();
    expect(n.track(`/proc/${holder.pid}/ns/mnt`, inodeOf(mntOf('self') as string))).toBeNull();
    expect(n.track('/proc/self/ns/mnt', inodeOf(mntOf(holder.pid) as string))).toBeNull();
    expect(n.track('/nonexistent/ns', '1')).toBeNull();
  });

  it('sync() reports a change made just before it, without waiting for the event loop', async () => {
    const n = notifier();
    const holder = await fx.unpersistedNs();
    const t = n.track(`/proc/${holder.pid}/ns/mnt`, inodeOf(mntOf(holder.pid) as string));
    sh('nsenter', ['-t', String(holder.pid), '-m', 'mount', '-t', 'tmpfs', 'kernel-events', fx.tempDir()]);
    n.sync();
    expect(t?.fired).toBe(true);
  });

  it('a cancelled tracker stays quiet', async () => {
    const n = notifier();
    const holder = await fx.unpersistedNs();
    let fired = false;
    const t = n.track(`/proc/${holder.pid}/ns/mnt`, inodeOf(mntOf(holder.pid) as string), () => (fired = true));
    t?.cancel();
    sh('nsenter', ['-t', String(holder.pid), '-m', 'mount', '-t', 'tmpfs', 'kernel-events', fx.tempDir()]);
    n.sync();
    expect(fired).toBe(false);
  });
});

describe('process events', () => {
  it('report a process start once per arm', async () => {
    const libc = loadLibc() as Libc;
    const waiter = new EventWaiter(libc, log);
    const events = openProcessEvents(libc, waiter, log);
    disposers.push(
      () => waiter.dispose(),
      () => events?.dispose(),
    );
    expect(events).not.toBeNull();
    let heard = 0;
    events?.arm(() => heard++);
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    await waitFor(() => heard === 1, 'a process event');
    events?.arm(() => heard++);
    const second = spawn('true');
    await new Promise((r) => second.once('exit', r));
    await waitFor(() => heard === 2, 'a second process event after re-arming');
  });

  it('name the processes that started or exited since the last arm, and only those', async () => {
    const libc = loadLibc() as Libc;
    const waiter = new EventWaiter(libc, log);
    const events = openProcessEvents(libc, waiter, log) as NonNullable<ReturnType<typeof openProcessEvents>>;
    disposers.push(
      () => waiter.dispose(),
      () => events.dispose(),
    );
    expect(events.arm(() => undefined).pids).toBeNull(); // nothing to compare with yet
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    const delta = events.arm(() => undefined);
    expect(delta.pids?.has(child.pid as number)).toBe(true);
    expect(delta.pids?.has(process.pid)).toBe(false);
    expect(events.arm(() => undefined).pids?.has(child.pid as number)).toBe(false);
  });
});

describe('namespace list with change tracking', () => {
  let engine: NamespaceEngine;

  it('shows a bind made inside another namespace in the very next list, and its removal too', async () => {
    engine = createNamespaceEngine({ nsDir: fx.tempDir(), log });
    disposers.push(() => engine.dispose());
    const holder = await fx.unpersistedNs();
    const other = await fx.unpersistedNs();
    const otherNet = `net:${sh('readlink', [`/proc/${other.pid}/ns/net`])
      .trim()
      .slice(5, -1)}`;
    await engine.list(); // reads and tracks every mount namespace; the next list answers from what it tracked
    const target = fx.tempDir();
    const file = `${target}/bound-net`;
    sh('nsenter', ['-t', String(holder.pid), '-m', 'touch', file]);
    sh('nsenter', ['-t', String(holder.pid), '-m', 'mount', '--bind', `/proc/${other.pid}/ns/net`, file]);
    const holderMnt = mntOf(holder.pid) as string;
    const row = (await engine.list()).namespaces.find((ns) => ns.id === otherNet);
    expect(row?.nsfs).toContain(`[${holderMnt}]${file}`);
    sh('nsenter', ['-t', String(holder.pid), '-m', 'umount', file]);
    const after = (await engine.list()).namespaces.find((ns) => ns.id === otherNet);
    expect(after?.nsfs ?? []).not.toContain(`[${holderMnt}]${file}`);
  });
});

describe('without kernel events (older kernels, no privilege): polling', () => {
  it('still brings a mount in a watched namespace and a new process to the watcher', async () => {
    const engine = createNamespaceEngine({ nsDir: fx.tempDir(), log, kernelEvents: false });
    disposers.push(() => engine.dispose());
    const holder = await fx.unpersistedNs();
    const id = mntOf(holder.pid) as string;
    const seen: { mounts: string[][]; nprocs: number[] } = { mounts: [], nprocs: [] };
    const h = engine.watch(
      (e) => {
        if (e.type === 'mounts' && e.id === id) seen.mounts.push(e.mounts.map((m) => m.target));
        if (e.type === 'namespaces') seen.nprocs.push(e.namespaces.find((ns) => ns.id === id)?.nprocs ?? 0);
      },
      [id],
    );
    disposers.push(() => h.dispose());
    await waitFor(() => seen.mounts.length > 0 && seen.nprocs.length > 0, 'the first table and list');
    const dir = fx.tempDir();
    sh('nsenter', ['-t', String(holder.pid), '-m', 'mount', '-t', 'tmpfs', 'polled', dir]);
    await waitFor(() => seen.mounts.at(-1)?.includes(dir) === true, 'the polled table to show the mount');
    const joiner = spawn('nsenter', ['-t', String(holder.pid), '-m', 'sleep', '30']);
    disposers.push(() => joiner.kill('SIGKILL'));
    await waitFor(() => (seen.nprocs.at(-1) ?? 0) >= 2, 'the polled list to count the new process', 15_000);
  });
});

describe('the list follows processes from the first moment', () => {
  it('shows a new namespace within a second when watching starts in the same turn as the engine', async () => {
    // The proc connector's ack is queued at start: a re-arm skipped at that moment once left the list deaf.
    const engine = createNamespaceEngine({ nsDir: fx.tempDir(), log });
    disposers.push(() => engine.dispose());
    const lists: string[][] = [];
    const h = engine.watch((e) => e.type === 'namespaces' && lists.push(e.namespaces.map((ns) => ns.id)), []);
    disposers.push(() => h.dispose());
    await waitFor(() => lists.length > 0, 'the first list');
    // ...and past the first rescans, so the 30 s full scan is far away
    await new Promise((r) => setTimeout(r, 1000));
    const holder = await fx.unpersistedNs();
    const id = mntOf(holder.pid) as string;
    await waitFor(() => lists.at(-1)?.includes(id) === true, 'the new namespace in the list', 2000);
  });
});
