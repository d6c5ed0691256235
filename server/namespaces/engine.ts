// The namespace and mount engine: the one object the HTTP routes, the event stream and the terminal launcher
// talk to. It wires discovery, persisted-namespace scanning, mount tables, diff, lifecycle and watching.
import { statSync } from 'node:fs';
import {
  NS_TYPES,
  nsIdInode,
  parseNsId,
  type CreateNamespaceRequest,
  type MountDiff,
  type MountTable,
  type Namespace,
  type NamespaceList,
  type NsType,
} from '../../shared/api.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { diffMounts } from '../../shared/mount-diff.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import { mountTableOf, type MountTableJson } from './mounts-message.js';
import type { PageJobItem } from '../proc/scan-jobs.js';
import { createMountNotifier, trackMountNs, type MountNotifier } from '../mounts/mount-notify.js';
import { EventWaiter } from '../kernel/event-waiter.js';
import { loadLibc } from '../kernel/libc.js';
import { openProcessEvents, type ProcessDelta, type ProcessEvents } from '../kernel/process-events.js';
import { readMountinfoRaw, type MountinfoRead, type MountNsAccess } from '../mounts/read.js';
import { hasCapSysAdmin } from '../proc/status.js';
import { notPrivileged, NsfsError, openNamespace, openNamespaceOffLoop, type NamespaceEntry } from '../kernel/nsfs.js';
import { InodeCache, UserNames } from './discovery.js';
import { childrenCpuMs } from './watch-timing.js';
import { measured, metered } from '../proc/scan-cost.js';
import { processlessReadMode } from '../mounts/by-id.js';
import { readNsLink } from '../proc/ns-links.js';
import { Lifecycle } from './lifecycle.js';
import { OwnerFacts } from './owners.js';
import { PersistedScanner } from './persisted.js';
import { ScanPool } from '../proc/scan-pool.js';
import type { HelperPids } from '../proc/run.js';
import { takeSnapshot, type Snapshot, type SnapshotDeps } from './snapshot.js';
import {
  NamespaceWatcher,
  type ActivityListener,
  type EngineEvent,
  type EngineListener,
  type WatchHandle,
  type WatchHooks,
} from './watch.js';

export type { EngineEvent, EngineListener, NamespaceEntry, WatchHandle };

export interface NamespaceEngine {
  list(type?: NsType): Promise<NamespaceList>;
  /** AppError NS_NOT_FOUND when unknown, BAD_NAMESPACE_ID when malformed */
  get(id: string): Promise<Namespace>;
  /**
   * works for a persisted namespace with no process; no helper process is left behind. A page of rows
   * (`offset`, at most `limit`, see mountPage), with `truncated` when that is not the whole table.
   */
  mounts(id: string, page?: { offset: number; limit: number }): Promise<MountTable>;
  /**
   * The same page as JSON text, built on the scan worker: `{"namespace":…,<body>}` is the MountTable. What the
   * REST route sends, so a table of thousands of rows is never parsed or stringified on the event loop.
   */
  mountsJson(id: string, page?: { offset: number; limit: number }): Promise<MountTableJson>;
  diff(a: string, b: string): Promise<MountDiff>;
  /** the 201 shape; AppError BAD_NAME / NS_EXISTS / NOT_PRIVILEGED / KERNEL_ERROR with plain-words messages */
  create(req: CreateNamespaceRequest): Promise<Namespace>;
  /** NS_NOT_OURS (409) if it has no nsfs bind under the ns-dir */
  remove(id: string): Promise<void>;
  /** the server's own, e.g. 'mnt:4026531841' */
  selfId(type: NsType): string;
  /**
   * The namespace, opened once and verified on the fd (an nsfs file of this inode and type): through its
   * persisted path under any nsfs bind in the server's mount ns, else a PID that holds it, else a bind inside a
   * mount namespace a process holds. The caller owns the fd. AppError NS_NOT_FOUND / TARGET_CHANGED /
   * NOT_PRIVILEGED (the server may not open or enter it).
   */
  entryFor(id: string): Promise<NamespaceEntry>;
  /** Namespace id of `type` that process `pid` is in now, or null if unreadable/gone. */
  nsOfPid(pid: number, type: NsType): Promise<string | null>;
  watch(listener: (e: EngineEvent) => void, ids: string[]): { setIds(ids: string[]): void; dispose(): void };
  /** The live list's rows may have new facts (annotate learned container names): rescan within the list's budget. */
  refreshSoon?(): void;
  /** The PIDs of process events while the live list is watched (watch.ts onProcessActivity); returns the unsubscribe. */
  onProcessActivity?(listener: ActivityListener): () => void;
  dispose(): void;
}

export interface EngineOptions {
  nsDir: string;
  log: Logger;
  /**
   * Hear mount and process changes from the kernel (fanotify mount events, the proc connector) where it can;
   * false: poll, as on kernels before 6.15 or without privilege. Default true.
   */
  kernelEvents?: boolean;
  /** adds facts to every scan's rows before anyone sees them (containers: server/containers/tracker.ts) */
  annotate?: (snap: Snapshot) => Promise<void>;
  /** metrics callbacks (scan time, event → push latency); see WatchHooks */
  watchHooks?: WatchHooks;
}

export function createNamespaceEngine(opts: EngineOptions): NamespaceEngine {
  return new Engine(opts.nsDir, opts.log, opts.kernelEvents ?? true, opts.annotate, opts.watchHooks);
}

/**
 * How long a path inside another mount namespace may take to open before the entry is refused: a local lookup
 * takes microseconds, so seconds mean someone's filesystem (FUSE) is holding it.
 */
const FOREIGN_OPEN_TIMEOUT_MS = 2000;

function parseIdOrThrow(id: string): { type: NsType; inode: string } {
  const parsed = parseNsId(id);
  if (!parsed)
    throw new AppError('BAD_NAMESPACE_ID', `${JSON.stringify(id)} is not a namespace id like mnt:4026532177`);
  return parsed;
}

class Engine implements NamespaceEngine {
  private readonly helperPids: HelperPids = new Set();
  private readonly selfIds = new Map<NsType, string>();
  private readonly deps: SnapshotDeps;
  private readonly lifecycle: Lifecycle;
  private readonly watcher: NamespaceWatcher;
  private readonly pool: ScanPool;
  private readonly notifier: MountNotifier;
  private readonly waiter: EventWaiter | null;
  private readonly processEvents: ProcessEvents | null;
  /** the device number of nsfs, to tell an nsfs bind from an ordinary file with a coincidental inode */
  private readonly nsfsDev: number;
  private readonly owners: OwnerFacts;

  constructor(
    nsDir: string,
    private readonly log: Logger,
    kernelEvents: boolean,
    private readonly annotate?: (snap: Snapshot) => Promise<void>,
    watchHooks?: WatchHooks,
  ) {
    for (const type of NS_TYPES) {
      const id = readNsLink('self', type);
      if (id) this.selfIds.set(type, id);
    }
    const selfMnt = this.selfId('mnt');
    this.nsfsDev = statSync('/proc/self/ns/mnt').dev;
    this.pool = new ScanPool(log);
    const libc = kernelEvents ? loadLibc() : null;
    this.waiter = libc ? new EventWaiter(libc, log) : null;
    this.notifier = createMountNotifier(libc, this.waiter, log);
    this.processEvents = openProcessEvents(libc, this.waiter, log);
    const persisted = new PersistedScanner({
      selfMnt,
      helperPids: this.helperPids,
      pool: this.pool,
      notifier: this.notifier,
      log,
    });
    this.deps = {
      selfIds: this.selfIds,
      selfMnt,
      users: new UserNames(),
      persisted,
      helperPids: this.helperPids,
      pool: this.pool,
      inodes: new InodeCache(),
    };
    this.owners = new OwnerFacts({
      selfUserInode: statSync('/proc/self/ns/user').ino,
      nsfsDev: this.nsfsDev,
      users: this.deps.users,
    });
    this.lifecycle = new Lifecycle(nsDir, this.helperPids);
    this.watcher = new NamespaceWatcher(
      {
        snapshot: async (delta) => {
          const { value, cpuMs } = await metered(() => this.snapshot(NS_TYPES, delta));
          value.cpuMs = cpuMs;
          return value;
        },
        tableAccess: (id, snap) => this.tableAccess(id, snap),
        readTable: (mntId, access) => readMountinfoRaw(access, mntId, this.helperPids, this.pool),
        pageTable: (read) => this.pool.page(read.cut ? { raw: read.raw, cut: read.cut } : { raw: read.raw }),
        // Besides the scan's own work (metered above): on kernels before 6.15 the helpers it ran — not a shell
        // that exits with an hour of CPU behind it (children are counted only where a scan starts some).
        cpuMs: () => (processlessReadMode() === 'by-id' ? 0 : childrenCpuMs()),
        trackTable: (mntId, access, onFire) => trackMountNs(this.notifier, mntId, access, onFire),
        processEvents: this.processEvents,
      },
      log,
      watchHooks,
    );
  }

  async list(type?: NsType): Promise<NamespaceList> {
    const snap = await this.snapshot(type ? [type] : NS_TYPES);
    const list: NamespaceList = { namespaces: snap.namespaces };
    if (snap.problems.length > 0) list.problems = snap.problems;
    return list;
  }

  async get(id: string): Promise<Namespace> {
    return (await this.find(id)).ns;
  }

  async mounts(id: string, page?: { offset: number; limit: number }): Promise<MountTable> {
    return mountTableOf(await this.mountsJson(id, page));
  }

  async mountsJson(id: string, page?: { offset: number; limit: number }): Promise<MountTableJson> {
    const { ns, read } = await this.readTable(id);
    const item: PageJobItem = { raw: read.raw, ...(read.cut ? { cut: read.cut } : {}), ...(page ?? {}) };
    return { namespace: ns, body: (await this.pool.page(item)).body };
  }

  async diff(a: string, b: string): Promise<MountDiff> {
    parseIdOrThrow(a);
    parseIdOrThrow(b);
    // Each side is held to the read caps, so the diff is bounded too; it says when it covers only a part.
    const [ta, tb] = await Promise.all([this.readTable(a), this.readTable(b)]);
    const diff: MountDiff = diffMounts(
      parseMountinfo(ta.read.raw.toString('utf8')),
      parseMountinfo(tb.read.raw.toString('utf8')),
    );
    if (ta.read.cut || tb.read.cut) diff.truncated = true;
    return diff;
  }

  private async readTable(id: string): Promise<{ ns: Namespace; read: MountinfoRead }> {
    const { ns, snap } = await this.find(id);
    const where = this.tableAccess(id, snap);
    if (!where) throw new AppError('NS_NOT_FOUND', `${id} has no process and no nsfs bind any more`);
    return { ns, read: await readMountinfoRaw(where.access, where.mntId, this.helperPids, this.pool) };
  }

  async create(req: CreateNamespaceRequest): Promise<Namespace> {
    const created = await this.lifecycle.create(req);
    const snap = await this.snapshot(['mnt']);
    // Found by the scan like any other persisted namespace; the fallback covers a delete racing this call.
    return (
      snap.byId.get(created.id) ?? {
        id: created.id,
        type: 'mnt',
        inode: Number(nsIdInode(created.id)),
        nprocs: 0,
        pid: null,
        user: null,
        command: null,
        nsfs: [created.path],
        self: false,
      }
    );
  }

  async remove(id: string): Promise<void> {
    const { snap } = await this.find(id);
    const dir = await this.lifecycle.realNsDir();
    const ours = dir
      ? snap.binds
          .filter((b) => b.nsId === id && b.holder === this.deps.selfMnt && b.path.startsWith(dir + '/'))
          .map((b) => b.path)
      : [];
    if (ours.length === 0)
      throw new AppError(
        'NS_NOT_OURS',
        `${id} is not persisted under the ns-dir; nsconsole deletes only namespaces it persisted there`,
      );
    await this.lifecycle.remove([...new Set(ours)]);
  }

  selfId(type: NsType): string {
    const id = this.selfIds.get(type);
    // The server can always read its own links; a missing one means the kernel lacks the type (e.g. time < 5.6).
    if (!id) throw new AppError('NOT_SUPPORTED', `this kernel has no ${type} namespaces`);
    return id;
  }

  async entryFor(id: string): Promise<NamespaceEntry> {
    const { type, inode } = parseIdOrThrow(id);
    const { ns, snap } = await this.find(id);
    const ino = Number(inode);
    let denied: string | null = null;
    // Each way in is opened once and verified on the fd (nsfs, this inode, this type): nsenter enters that fd.
    const open = (path: string, follow: boolean): NamespaceEntry | null => {
      try {
        const fd = openNamespace(path, type, ino, { follow, dev: this.nsfsDev });
        return fd === null ? null : { type, id, fd };
      } catch (err) {
        // Swallow: gone (ENOENT), its holder exited (ESRCH)… the next way in is tried; permission is remembered.
        if (err instanceof NsfsError && (err.code === 'EACCES' || err.code === 'EPERM')) denied = path;
        return null;
      }
    };
    for (const path of ns.nsfs) {
      const entry = path.startsWith('/') ? open(path, false) : null;
      if (entry) return entry;
    }
    for (const pid of snap.members.get(id) ?? []) {
      const entry = open(`/proc/${pid}/ns/${type}`, true);
      if (entry) return entry;
    }
    // Bound only inside another mount namespace that has a process: /proc/PID/root/<path> reaches it from here.
    // Its owner controls that path (a FUSE mount on it can stall a lookup): walked off the event loop, one at
    // a time, so a stalled walk holds at most one threadpool thread (nsfs.ts openNamespaceOffLoop).
    let reachable = false;
    for (const b of snap.binds) {
      if (b.nsId !== id) continue;
      for (const pid of snap.members.get(b.holder) ?? []) {
        reachable = true;
        const path = `/proc/${pid}/root${b.path}`;
        try {
          const fd = await openNamespaceOffLoop(path, type, ino, {
            dev: this.nsfsDev,
            timeoutMs: FOREIGN_OPEN_TIMEOUT_MS,
          });
          if (fd !== null) return { type, id, fd };
        } catch (err) {
          if (!(err instanceof NsfsError)) throw err;
          if (err.code === 'EBUSY')
            throw new AppError(
              'RATE_LIMITED',
              `still looking up a namespace inside another mount namespace; try ${id} again in a moment`,
            );
          if (err.code === 'ETIMEDOUT')
            throw new AppError('TARGET_CHANGED', `${id}: ${err.message}; its mount namespace is not answering`);
          // Swallow: gone (ENOENT) or its holder exited: the next way in is tried; permission is remembered.
          if (err.code === 'EACCES' || err.code === 'EPERM') denied = path;
        }
      }
    }
    if (denied !== null || !hasCapSysAdmin()) throw notPrivileged(`${id}${denied ? ` (${denied})` : ''}`);
    if (!reachable && snap.binds.some((b) => b.nsId === id))
      throw new AppError(
        'NOT_SUPPORTED',
        `${id} is bound only inside mount namespaces without processes; enter one of those first`,
      );
    throw new AppError('TARGET_CHANGED', `${id} changed while looking for a way in; try again`);
  }

  async nsOfPid(pid: number, type: NsType): Promise<string | null> {
    return Number.isInteger(pid) && pid > 0 ? readNsLink(pid, type) : null;
  }

  watch(listener: (e: EngineEvent) => void, ids: string[]): WatchHandle {
    return this.watcher.subscribe(listener, ids);
  }

  refreshSoon(): void {
    this.watcher.refreshSoon();
  }

  onProcessActivity(listener: ActivityListener): () => void {
    return this.watcher.onProcessActivity(listener);
  }

  dispose(): void {
    this.watcher.dispose();
    this.pool.dispose();
    this.deps.persisted.dispose();
    this.notifier.dispose();
    this.processEvents?.dispose();
    this.waiter?.dispose();
  }

  /** A snapshot whose rows say who owns them (owners.ts). */
  private async snapshot(types: readonly NsType[] = NS_TYPES, delta?: ProcessDelta): Promise<Snapshot> {
    const snap = await takeSnapshot(this.deps, types, delta);
    measured(() => this.owners.annotate(snap.namespaces));
    await this.annotate?.(snap);
    return snap;
  }

  private async find(id: string): Promise<{ ns: Namespace; snap: Snapshot }> {
    const { type } = parseIdOrThrow(id);
    const snap = await this.snapshot([type]);
    const ns = snap.byId.get(id);
    if (!ns) throw new AppError('NS_NOT_FOUND', `no namespace ${id}: no process is in it and no nsfs bind holds it`);
    return { ns, snap };
  }

  /**
   * Where a namespace's mount table comes from. A mount namespace: the server itself, a process in it, or an
   * nsenter chain through nsfs binds. Any other type has no table of its own: it shows the table of the mount
   * namespace its lowest process is in, and without a process the server's own (what a shell entered into only
   * that namespace would see).
   */
  private tableAccess(id: string, snap: Snapshot): { mntId: string; access: MountNsAccess } | null {
    const selfMnt = this.deps.selfMnt;
    if (id.startsWith('mnt:')) {
      if (id === selfMnt) return { mntId: id, access: { kind: 'self' } };
      const pids = snap.members.get(id);
      if (pids) return { mntId: id, access: { kind: 'pids', pids } };
      const chain = snap.chains.get(id);
      return chain ? { mntId: id, access: chain } : null;
    }
    const ns = snap.byId.get(id);
    if (!ns) return null;
    const mntId = ns.pid === null ? selfMnt : (readNsLink(ns.pid, 'mnt') ?? selfMnt);
    if (mntId === selfMnt) return { mntId, access: { kind: 'self' } };
    return { mntId, access: { kind: 'pids', pids: snap.members.get(mntId) ?? [ns.pid as number] } };
  }
}
