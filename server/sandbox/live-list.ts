// A sandbox's live Namespaces list, kept up to date from its own processes.
//
// The host's list (watch.ts) rescans every process of the machine and shares one CPU budget with all of its
// churn, so under other people's activity a scan waits up to LIST_EVENT_MAX_GAP_MS: a learner's `unshare` showed
// in their list 756 ms later at p95 (issue #14). A sandbox's processes are few and known (its cgroups), so here
// each process event that touches a watched sandbox makes a scan of that sandbox alone — a readlink per
// process and namespace type — merged onto the host's last list, which still brings everything a process scan
// cannot see (namespaces held only by nsfs binds, owners of rows it has, the error notes). The sandbox's scans
// have their own small budget, and all sandboxes' scans together another (watch-timing.ts): a learner can slow
// their own list, never make the server scan more for everyone; the host's scans are unchanged.
import * as fs from 'node:fs';
import { NS_TYPES, nsId, nsIdInode, type Namespace, type NsType } from '../../shared/api.js';
import { nsfsDev, selfUserNsInode } from '../kernel/nsfs.js';
import type { Logger } from '../log.js';
import { factsOf, UserNames } from '../namespaces/discovery.js';
import type { EngineEvent, NamespaceEngine, WatchHandle } from '../namespaces/engine.js';
import { OwnerFacts } from '../namespaces/owners.js';
import {
  LIST_BUDGET_WINDOW_MS,
  LIST_EVENT_MAX_GAP_MS,
  SANDBOX_LIST_CPU_SHARE,
  SANDBOX_LISTS_CPU_SHARE,
  ScanBudget,
} from '../namespaces/watch-timing.js';
import { readFactsJob, readNsInodesJob } from '../proc/scan-jobs.js';
import { sandboxIdInCgroupText } from './cgroups.js';
import type { Sandbox } from './sandbox.js';

type ListEvent = Extract<EngineEvent, { type: 'namespaces' }>;

/**
 * Past this many PIDs in one batch of events that no watched sandbox knows, their cgroups are not looked up one
 * by one (a fork storm somewhere): every watched sandbox is told "maybe yours" and checks its own processes,
 * within its budgets. A person's command is a few PIDs a batch; 16 lookups are ~0.2 ms, so routing costs at most
 * ~1% of a CPU at one batch per ACTIVITY_MIN_GAP_MS.
 */
const MAX_LOOKUPS_PER_BATCH = 16;

/**
 * Hands the host's process events on to the sandboxes whose lists are watched: a PID a sandbox had at its last
 * scan is its; a new one is looked up in /proc/PID/cgroup. One per server (owners.ts), listening only while some
 * sandbox's list is watched.
 */
export class SandboxActivity {
  private readonly feeds = new Set<SandboxListFeed>();
  private unhook: (() => void) | null = null;
  /** all sandboxes' list scans and this routing together (SANDBOX_LISTS_CPU_SHARE) */
  readonly budget = new ScanBudget(SANDBOX_LISTS_CPU_SHARE, LIST_BUDGET_WINDOW_MS, LIST_EVENT_MAX_GAP_MS);

  constructor(
    private readonly host: NamespaceEngine,
    readonly log: Logger,
  ) {}

  add(feed: SandboxListFeed): void {
    this.feeds.add(feed);
    this.unhook ??= this.host.onProcessActivity?.((pids) => this.route(pids)) ?? null;
  }

  remove(feed: SandboxListFeed): void {
    this.feeds.delete(feed);
    if (this.feeds.size > 0) return;
    this.unhook?.();
    this.unhook = null;
  }

  private route(pids: ReadonlySet<number> | null): void {
    const started = performance.now();
    const touched = new Set<SandboxListFeed>();
    const unknown: number[] = [];
    for (const pid of pids ?? []) {
      let known = false;
      for (const f of this.feeds)
        if (f.pids.has(pid)) {
          touched.add(f);
          known = true;
        }
      if (!known) unknown.push(pid);
    }
    if (pids === null || unknown.length > MAX_LOOKUPS_PER_BATCH) for (const f of this.feeds) touched.add(f);
    else
      for (const pid of unknown) {
        const id = sandboxOfPid(pid);
        if (id !== null) for (const f of this.feeds) if (f.sandboxId === id) touched.add(f);
      }
    this.budget.record(Date.now(), performance.now() - started);
    for (const f of touched) f.touched();
  }
}

/** The id of this server's sandbox that `pid` is in, or null (not in one, or gone already). */
function sandboxOfPid(pid: number): string | null {
  try {
    return sandboxIdInCgroupText(fs.readFileSync(`/proc/${pid}/cgroup`, 'latin1'));
  } catch {
    return null; // Swallow: it exited already; its exit was in a sandbox we know (pids) or is nobody's concern
  }
}

/** `pid` is alive and not one of sandbox `id`'s processes (a zombie of the sandbox still names its cgroup). */
function heldOutside(pid: number, id: string): boolean {
  try {
    return sandboxIdInCgroupText(fs.readFileSync(`/proc/${pid}/cgroup`, 'latin1')) !== id;
  } catch {
    return false; // Swallow: gone; whatever it held is decided by the sandbox's own processes
  }
}

/** One sandbox's list, for every /ws/events client of its owner (scope.ts); disposed when the last one leaves. */
export class SandboxListFeed {
  /** the sandbox's PIDs at the last scan (SandboxActivity routes by them) */
  pids: ReadonlySet<number> = new Set();
  sandboxId: string | null = null;
  private readonly listeners = new Set<(e: ListEvent) => void>();
  private readonly budget = new ScanBudget(SANDBOX_LIST_CPU_SHARE, LIST_BUDGET_WINDOW_MS, LIST_EVENT_MAX_GAP_MS);
  private readonly users = new UserNames();
  private readonly owners = new OwnerFacts({ selfUserInode: selfUserNsInode(), nsfsDev: nsfsDev(), users: this.users });
  private hostWatch: WatchHandle | null = null;
  /** the host's last list, all rows: what the sandbox's own scan is merged onto */
  private base: ListEvent | null = null;
  private message: ListEvent | null = null;
  private fingerprint = '';
  private timer: NodeJS.Timeout | null = null;
  private scanning = false;
  /** something happened while a scan ran or waited for its budget */
  private dirty = false;
  private disposed = false;

  constructor(
    private readonly host: NamespaceEngine,
    private readonly sandbox: () => Promise<Sandbox>,
    private readonly activity: SandboxActivity,
    /** the ids the sandbox sees among `rows` (scope.ts scopeOf) */
    private readonly scopeOf: (rows: readonly Namespace[], sb: Sandbox) => Set<string>,
    /** the rows in `scope` as the sandbox sees them (scope.ts) */
    private readonly view: (rows: readonly Namespace[], sb: Sandbox, scope: Set<string>) => Namespace[],
    private readonly onEmpty: () => void,
  ) {}

  subscribe(listener: (e: ListEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.message) listener(this.message);
    if (!this.hostWatch) {
      this.activity.add(this);
      this.hostWatch = this.host.watch((e) => {
        if (e.type !== 'namespaces') return;
        this.base = e;
        void this.scan(); // at the host's pace (its own budget), whatever this sandbox's budget says
      }, []);
    }
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      this.dispose();
      this.onEmpty();
    };
  }

  /** A process event touched this sandbox: scan it as soon as its budgets allow. */
  touched(): void {
    if (this.disposed) return;
    this.dirty = true;
    if (this.scanning || this.timer) return;
    const now = Date.now();
    const wait = Math.max(this.budget.delay(now, 0), this.activity.budget.delay(now, 0));
    if (wait <= 0) {
      void this.scan();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.dirty) void this.scan();
    }, wait);
    this.timer.unref();
  }

  private dispose(): void {
    this.disposed = true;
    this.hostWatch?.dispose();
    this.hostWatch = null;
    this.activity.remove(this);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Never rejects (callers `void` it). */
  private async scan(): Promise<void> {
    if (this.scanning) {
      this.dirty = true;
      return;
    }
    this.scanning = true;
    this.dirty = false;
    try {
      const sb = await this.sandbox();
      const base = this.base;
      if (this.disposed || !base) return; // the host's first list starts the first scan
      const started = performance.now();
      const { rows, scope } = this.merge(base.namespaces, sb);
      const cost = performance.now() - started;
      this.budget.record(Date.now(), cost);
      this.activity.budget.record(Date.now(), cost);
      this.emit({ ...base, namespaces: this.view(rows, sb, scope) });
    } catch (err) {
      // Swallow after logging: no sandbox right now (being reset) or it vanished mid-scan; the next event or host
      // list scans again.
      this.activity.log.debug({ err }, 'sandbox list scan failed');
    } finally {
      this.scanning = false;
      if (this.dirty && !this.disposed) this.touched();
    }
  }

  private emit(e: ListEvent): void {
    const fingerprint = JSON.stringify(e);
    if (fingerprint === this.fingerprint) return;
    this.fingerprint = fingerprint;
    this.message = e;
    for (const l of [...this.listeners]) l(e);
  }

  /**
   * The host's rows in the sandbox's scope, with the sandbox's processes read now: a namespace one of them is
   * in gets NPROCS, PID (and its USER and COMMAND) from them, one none of them is in any more loses them (and
   * goes, unless an nsfs bind holds it), one the host has not seen yet is added. Rows whose lowest process is
   * alive outside the sandbox (the host's root in a `nsenter`) are the host's business and left as they are.
   */
  private merge(base: readonly Namespace[], sb: Sandbox): { rows: Namespace[]; scope: Set<string> } {
    const pids = sb.processes();
    this.sandboxId = sb.id;
    // Without its cgroups (a kernel that refused them) the sandbox's processes are unknown: the host's rows stand.
    if (!pids.includes(sb.initPid)) {
      this.pids = new Set();
      return { rows: [...base], scope: this.scopeOf(base, sb) };
    }
    pids.sort((a, b) => a - b);
    const inodes = readNsInodesJob(fs, pids, NS_TYPES);
    const members = new Map<string, number[]>();
    const alive: number[] = [];
    pids.forEach((pid, k) => {
      const row = inodes.slice(k * NS_TYPES.length, (k + 1) * NS_TYPES.length);
      if (row.some((inode) => inode < 0)) return; // exited mid-scan (or unreadable): not one of its processes now
      alive.push(pid);
      row.forEach((inode, j) => {
        if (inode === 0) return;
        const id = nsId(NS_TYPES[j] as NsType, inode);
        const list = members.get(id);
        if (list) list.push(pid);
        else members.set(id, [pid]);
      });
    });
    const mine = new Set(alive);
    this.pids = mine;

    const facts = (pid: number) => factsOf(pid, readFactsJob(fs, [pid])[0] ?? { error: 'EIO' }, this.users);
    const known = new Set(base.map((r) => r.id));
    const added: Namespace[] = [];
    for (const [id, local] of members) {
      if (known.has(id)) continue;
      const type = id.slice(0, id.indexOf(':')) as NsType;
      const row: Namespace = {
        id,
        type,
        inode: Number(nsIdInode(id)),
        nprocs: 0,
        pid: null,
        user: null,
        command: null,
        nsfs: [],
        self: false,
      };
      added.push(withProcesses(row, local, facts));
    }
    this.owners.annotate(added); // who owns it decides whether the sandbox sees it (scopeOf)
    const scope = this.scopeOf([...base, ...added], sb);

    const rows: Namespace[] = [];
    for (const r of base) {
      if (!scope.has(r.id)) continue;
      const local = members.get(r.id);
      if (r.pid !== null && !mine.has(r.pid) && heldOutside(r.pid, sb.id)) rows.push(r);
      else if (local) rows.push(local[0] === r.pid && local.length === r.nprocs ? r : withProcesses(r, local, facts));
      else if (r.pid === null) rows.push(r);
      else if (r.nsfs.length > 0) rows.push({ ...r, nprocs: 0, pid: null, user: null, command: null });
      // else: its processes (all the sandbox's) are gone and no bind holds it: gone
    }
    for (const r of added) if (scope.has(r.id)) rows.push(r);
    rows.sort((a, b) => a.inode - b.inode || NS_TYPES.indexOf(a.type) - NS_TYPES.indexOf(b.type));
    return { rows, scope };
  }
}

function withProcesses(
  row: Namespace,
  pids: readonly number[],
  facts: (pid: number) => ReturnType<typeof factsOf>,
): Namespace {
  const pid = pids[0] as number;
  const f = facts(pid);
  const next: Namespace = { ...row, nprocs: pids.length, pid, user: f.user, command: f.command };
  delete next.commandTruncated;
  if (f.commandTruncated) next.commandTruncated = true;
  if (f.error) next.error = f.error;
  return next;
}
