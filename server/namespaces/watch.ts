// Live changes: the namespace list and the mount tables of watched namespaces, pushed to subscribers.
//
// Mount tables are not polled where the kernel can tell us they changed (fanotify mount events, see
// mounts/mount-notify.ts): a watched table is read once, tracked, and read again when it fires — plus a slow
// re-read for what the kernel does not report (remounts, propagation changes). Elsewhere they are polled.
//
// Nothing is held open between polls. An open /proc/PID/mountinfo fd pins a mount namespace after its last
// process exits, and a helper process in a namespace would show up as NPROCS 1, so each poll opens, reads and
// closes. One timer drives everything: on these VMs a wake-up of the event loop costs ~0.25 ms of CPU, more
// than the reads it does, so tables and the list share each wake-up instead of each having a timer. Intervals
// stretch with what a poll costs (interval ≥ cost / CPU share), so a machine with thousands of processes or a
// table with thousands of mounts stays cheap. Everything stops when the last subscriber leaves.
import type { NamespaceList } from '../../shared/api.js';
import type { EventsServerMessage } from '../../shared/events.js';
import type { Logger } from '../log.js';
import { mountPageJson, type MountPageJson } from '../mounts/mountinfo.js';
import { mountsMessage } from './mounts-message.js';
import type { ProcessDelta, ProcessEvents } from '../kernel/process-events.js';
import type { MountTracker } from '../mounts/mount-notify.js';
import type { MountinfoRead, MountNsAccess } from '../mounts/read.js';
import {
  ACTIVITY_MIN_GAP_MS,
  EVENT_DRIVEN_MAX_AGE_MS,
  EVENT_DRIVEN_TICK_MS,
  LIST_CHECK_MS,
  LIST_CPU_SHARE,
  LIST_MAX_AGE_MS,
  LIST_EVENT_MIN_GAP_MS,
  LIST_MAX_GAP_MS,
  procSignature,
  PROPAGATION_POLL_MS,
  ScanBudget,
  cpuMsWithChildren,
  TABLE_CPU_SHARE,
  BIG_TABLE_BYTES,
  BIG_TABLE_EVENT_CPU_SHARE,
  TABLE_EVENT_BURST_MS,
  TABLE_EVENT_CPU_SHARE,
  TABLE_EVENT_MAX_GAP_MS,
  TABLE_EVENT_MIN_GAP_MS,
  TABLE_MAX_INTERVAL_MS,
  TABLE_TICK_MS,
  TRACKED_CPU_SHARE,
  TRACKED_REREAD_MAX_MS,
  TRACKED_REREAD_MS,
} from './watch-timing.js';
import type { Snapshot } from './snapshot.js';

export type EngineEvent = Exclude<EventsServerMessage, { type: 'error' | 'lesson' }>;
export type EngineListener = (e: EngineEvent) => void;
/** The PIDs the kernel told about since the last call (a start, exec, rename or exit); null: unknown, maybe any. */
export type ActivityListener = (pids: ReadonlySet<number> | null) => void;

export interface WatchHandle {
  setIds(ids: string[]): void;
  dispose(): void;
}

export interface WatchSource {
  /** `delta`: the processes that changed since the last scan's start (read only those again); absent: read all */
  snapshot(delta?: ProcessDelta): Promise<Snapshot>;
  /** where `id`'s mount table comes from according to `snap`; null when the namespace is gone */
  tableAccess(id: string, snap: Snapshot): { mntId: string; access: MountNsAccess } | null;
  /** the raw mountinfo bytes (within the read caps): compared as bytes, decoded and parsed only when they change */
  readTable(mntId: string, access: MountNsAccess): Promise<MountinfoRead>;
  /** changes whenever a process starts or exits; defaults to /proc/loadavg's last fields (see LIST_CHECK_MS) */
  signature?(): string;
  /** a read's first page, serialized (the engine does it on its scan worker); default: here, on this thread */
  pageTable?(read: MountinfoRead): Promise<MountPageJson>;
  /** call `onFire` once when the table behind `access` changes; null where that cannot be known (then: polls) */
  trackTable?(mntId: string, access: MountNsAccess, onFire: () => void): MountTracker | null;
  /**
   * CPU ms used so far by what a scan costs beyond the snapshot's own `cpuMs` (the engine: the helpers it runs);
   * default: the whole process and its children
   */
  cpuMs?(): number;
  /** process starts/execs/exits from the kernel; without them the list is checked on a timer (LIST_CHECK_MS) */
  processEvents?: ProcessEvents | null;
}

interface Subscriber {
  listener: EngineListener;
  ids: Set<string>;
}

interface TableWatch {
  id: string;
  raw: Buffer | null;
  /** the last `mounts` message: the first page of the table (see mountPage) */
  message: Extract<EngineEvent, { type: 'mounts' }> | null;
  /** some row of the last page is shared or slave */
  propagating: boolean;
  /** when the next poll is due (ms epoch); null: only when the list changes */
  dueAt: number | null;
  polling: boolean;
  /** a change was reported while a read was running: read again when it ends */
  again: boolean;
  /** set while the kernel reports this table's changes (see trackTable) */
  tracker: MountTracker | null;
  stopped: boolean;
  /** no re-read before this (ms epoch): see readDebt */
  notBefore: number;
  /**
   * Read cost not yet paid back, ms: each read adds its cost, time pays it back at TABLE_EVENT_CPU_SHARE.
   * Up to TABLE_EVENT_BURST_MS of it, reads follow changes at once; beyond, they wait until it is paid down.
   */
  readDebt: number;
  readDebtAt: number;
  /** a re-read asked for before notBefore, waiting for it */
  timer: NodeJS.Timeout | null;
  /** when the tracker last fired (performance.now()), not yet answered by a read: for WatchHooks.pushed */
  firedAt: number | null;
}

interface LastScan {
  at: number;
  signature: string;
  /** this scan was the one-more-look after a change */
  settling: boolean;
  /** no rescan before this many ms have passed: what a scan costs / LIST_CPU_SHARE */
  minGapMs: number;
  /** the CPU time it took (both threads), ms */
  cpuMs: number;
}

/** Metrics callbacks (the engine knows nothing of the metrics library). */
export interface WatchHooks {
  /** a namespace list scan took this many seconds (wall clock) */
  scanned?(seconds: number): void;
  /** a kernel event (a mount table's notification, a process event) reached subscribers this many seconds later */
  pushed?(source: 'mount' | 'process', seconds: number): void;
}

export class NamespaceWatcher {
  private readonly subs = new Set<Subscriber>();
  private readonly tables = new Map<string, TableWatch>();
  private snap: Snapshot | null = null;
  private listMessage: EngineEvent | null = null;
  private listFingerprint = '';
  private lastScan: LastScan | null = null;
  private nextListCheckAt = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  private tickMs = 0;
  private scanning: Promise<Snapshot | null> | null = null;
  /** a process event came after the last scan started (process-event mode) */
  private listDirty = false;
  private listTimer: NodeJS.Timeout | null = null;
  private readonly scanBudget = new ScanBudget();
  private disposed = false;
  /** when the oldest process event not yet in a scan came (performance.now()), for WatchHooks.pushed */
  private processEventAt: number | null = null;
  /** when the last scan that read every process ran (Date.now()); see scanList */
  private lastFullScanAt = -Infinity;
  private readonly activityListeners = new Set<ActivityListener>();
  /** what the arm() calls since the last scan returned, merged: the next scan's delta (see armEvents) */
  private pendingDelta: ProcessDelta | null = null;
  private lastHandOnAt = -Infinity;
  private handOnTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly source: WatchSource,
    private readonly log: Logger,
    private readonly hooks: WatchHooks = {},
  ) {}

  subscribe(listener: EngineListener, ids: readonly string[]): WatchHandle {
    const sub: Subscriber = { listener, ids: new Set() };
    this.subs.add(sub);
    if (this.listMessage) this.emitTo(sub, this.listMessage);
    else if (!this.scanning) void this.rescan();
    this.setIds(sub, ids);
    this.ensureTicking();
    return {
      setIds: (next) => this.subs.has(sub) && this.setIds(sub, next),
      dispose: () => {
        if (!this.subs.delete(sub)) return;
        this.syncTables();
        if (this.subs.size === 0) this.stopAll();
      },
    };
  }

  dispose(): void {
    this.disposed = true;
    this.subs.clear();
    this.stopAll();
  }

  /** Scan now (a table's processes left); shares an in-flight scan. Never rejects: a failed scan is logged. */
  rescan(): Promise<Snapshot | null> {
    this.scanning ??= this.scanList()
      .catch((err: unknown) => {
        // Swallow after logging: a scan that fails is retried at the next check; it must never end the process.
        this.log.warn({ err }, 'namespace scan failed; retrying at the next check');
        return null;
      })
      .finally(() => {
        this.scanning = null;
        if (this.listDirty) this.scheduleListScan(); // something happened while this scan ran
      });
    return this.scanning;
  }

  /**
   * Hear about process activity (the PIDs of each batch of process events) while this watcher has subscribers
   * and process events, at most every ACTIVITY_MIN_GAP_MS: a sandbox's own list follows its processes with this
   * (server/sandbox/live-list.ts) instead of waiting for the host's scans. Costs nothing without listeners.
   */
  onProcessActivity(listener: ActivityListener): () => void {
    this.activityListeners.add(listener);
    return () => {
      this.activityListeners.delete(listener);
      if (this.activityListeners.size > 0 || !this.handOnTimer) return;
      clearTimeout(this.handOnTimer);
      this.handOnTimer = null;
    };
  }

  /** Scan soon, within the list's CPU budget: something the rows show changed without a process event. */
  refreshSoon(): void {
    this.requestRescan();
  }

  /** Scan soon, within the list's CPU budget (a watched table's nsfs binds changed). */
  private requestRescan(): void {
    this.listDirty = true;
    this.scheduleListScan();
  }

  private setIds(sub: Subscriber, ids: readonly string[]): void {
    const before = sub.ids;
    sub.ids = new Set(ids);
    this.syncTables();
    for (const id of sub.ids) {
      const known = this.tables.get(id)?.message;
      // Newly watched and already read for someone else: answer at once; otherwise the first poll answers all.
      if (known && !before.has(id)) this.emitTo(sub, known);
    }
  }

  /** Start table polls that someone needs, stop those nobody needs; the tick follows (fast with tables). */
  private syncTables(): void {
    const needed = new Set<string>();
    for (const s of this.subs) for (const id of s.ids) needed.add(id);
    for (const [id, tw] of this.tables) if (!needed.has(id)) this.stopTable(tw);
    for (const id of needed) {
      if (this.tables.has(id)) continue;
      const tw: TableWatch = {
        id,
        raw: null,
        message: null,
        propagating: false,
        dueAt: null,
        polling: false,
        again: false,
        tracker: null,
        stopped: false,
        notBefore: 0,
        readDebt: 0,
        readDebtAt: 0,
        timer: null,
        firedAt: null,
      };
      this.tables.set(id, tw);
      void this.pollTable(tw);
    }
    this.ensureTicking();
  }

  private ensureTicking(): void {
    if (this.disposed || this.subs.size === 0) return;
    // Only an untracked table needs the fast tick; tracked ones are re-read on an event or after seconds.
    const polled = [...this.tables.values()].some((tw) => !tw.tracker || tw.tracker.fired);
    const wanted = polled ? TABLE_TICK_MS : this.source.processEvents ? EVENT_DRIVEN_TICK_MS : LIST_CHECK_MS;
    if (this.tickTimer && this.tickMs === wanted) return;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickMs = wanted;
    this.tickTimer = setInterval(() => this.tick(), wanted);
    this.tickTimer.unref();
  }

  private tick(): void {
    const now = Date.now();
    // Due a little before this tick counts as due now, so timer jitter does not skip a tick.
    const horizon = now + this.tickMs / 2;
    for (const tw of this.tables.values())
      if (!tw.polling && tw.dueAt !== null && tw.dueAt <= horizon) this.requestPoll(tw);
    if (now < this.nextListCheckAt || this.scanning) return;
    this.nextListCheckAt = now + LIST_CHECK_MS - this.tickMs / 2;
    const last = this.lastScan;
    const age = last ? now - last.at : Infinity;
    if (this.source.processEvents) {
      if (age >= EVENT_DRIVEN_MAX_AGE_MS - this.tickMs / 2) void this.rescan();
      return;
    }
    const changed = !last || this.signature() !== last.signature || age >= LIST_MAX_AGE_MS;
    if (changed && age >= (last?.minGapMs ?? 0)) void this.rescan();
  }

  private cpuMs(): number {
    return this.source.cpuMs ? this.source.cpuMs() : cpuMsWithChildren();
  }

  private signature(): string {
    return this.source.signature ? this.source.signature() : procSignature();
  }

  /** Process-event mode: rescan once the CPU share allows; a scan in flight reschedules when it ends. */
  private scheduleListScan(): void {
    if (this.listTimer || this.scanning || this.disposed || this.subs.size === 0) return;
    const last = this.lastScan;
    const now = Date.now();
    const delay = last ? Math.max(this.scanBudget.delay(now, last.cpuMs), last.at + LIST_EVENT_MIN_GAP_MS - now) : 0;
    this.listTimer = setTimeout(() => {
      this.listTimer = null;
      if (this.listDirty) void this.rescan();
    }, delay);
    this.listTimer.unref();
  }

  /** A process started, exec'd or exited: rescan within the budget, and hand the PIDs on to activity listeners. */
  private readonly onProcessEvents = (): void => {
    this.processEventAt ??= performance.now();
    this.listDirty = true;
    this.scheduleListScan();
    if (this.activityListeners.size > 0) this.scheduleHandOn();
  };

  /**
   * Listen for the next process event; what came since the last arm() joins the next scan's delta and goes to
   * the activity listeners. Re-arming between scans (scheduleHandOn) splits one delta into several: merged here.
   */
  private armEvents(events: ProcessEvents): void {
    const d = events.arm(this.onProcessEvents);
    const p = this.pendingDelta;
    this.pendingDelta =
      p === null ? d : { since: p.since, pids: p.pids && d.pids ? new Set([...p.pids, ...d.pids]) : null };
    if (this.activityListeners.size === 0 || d.pids?.size === 0) return;
    this.lastHandOnAt = performance.now();
    for (const l of [...this.activityListeners]) {
      try {
        l(d.pids);
      } catch (err) {
        // Swallow after logging: one listener's bug must not stop the list or the other listeners.
        this.log.error({ err }, 'process activity listener threw');
      }
    }
  }

  /** Re-arm (and so hand the PIDs on) now, or once ACTIVITY_MIN_GAP_MS after the last hand-on. */
  private scheduleHandOn(): void {
    if (this.handOnTimer) return;
    const handOn = () => {
      this.handOnTimer = null;
      const events = this.source.processEvents;
      if (!events || this.disposed || this.subs.size === 0 || this.activityListeners.size === 0) return;
      this.armEvents(events);
    };
    const wait = this.lastHandOnAt + ACTIVITY_MIN_GAP_MS - performance.now();
    if (wait <= 0) return handOn();
    this.handOnTimer = setTimeout(handOn, wait);
    this.handOnTimer.unref();
  }

  private async scanList(): Promise<Snapshot | null> {
    const events = this.subs.size > 0 ? this.source.processEvents : null;
    // Listen before looking: whatever happens from here on reports, whatever happened before is in this scan.
    this.listDirty = false;
    const eventAt = this.processEventAt;
    this.processEventAt = null;
    let delta: ProcessDelta | undefined;
    if (events) {
      this.armEvents(events);
      delta = this.pendingDelta ?? undefined;
      this.pendingDelta = null;
    }
    // Between full scans, read only the processes the kernel told about. A process that switches namespaces in
    // place (setns without exec) tells nothing: every EVENT_DRIVEN_MAX_AGE_MS one scan reads all of them.
    const full = Date.now() - this.lastFullScanAt >= EVENT_DRIVEN_MAX_AGE_MS - this.tickMs;
    const signature = events ? '' : this.signature();
    const started = performance.now();
    const cpu0 = this.cpuMs();
    let snap: Snapshot | null = null;
    try {
      snap = await this.source.snapshot(full ? undefined : delta);
      if (full) this.lastFullScanAt = Date.now();
    } catch (err) {
      this.log.warn({ err }, 'namespace scan failed; retrying at the next check');
    }
    // CPU counts the worker thread's half and any helper process too, and includes the cold-cache costs a wall
    // clock would hide; a metered snapshot counts only its own work (scan-cost.ts).
    const cpuMs = (snap?.cpuMs ?? 0) + this.cpuMs() - cpu0;
    const cost = Math.max(performance.now() - started, cpuMs);
    this.hooks.scanned?.((performance.now() - started) / 1000);
    if (this.disposed || this.subs.size === 0) return snap;
    // After a change, look once more at the next check even if nothing else starts: a process seen between
    // its fork and its unshare()/exec would otherwise look stale until LIST_MAX_AGE_MS.
    const prev = this.lastScan;
    const settling = !events && prev !== null && !prev.settling && prev.signature !== signature;
    this.lastScan = {
      at: Date.now(),
      signature: settling ? '' : signature,
      settling,
      cpuMs,
      minGapMs: Math.min(cost / LIST_CPU_SHARE, LIST_MAX_GAP_MS),
    };
    this.scanBudget.record(this.lastScan.at, cpuMs);
    if (snap) {
      try {
        if (this.applySnapshot(snap) && eventAt !== null)
          this.hooks.pushed?.('process', (performance.now() - eventAt) / 1000);
      } catch (err) {
        // Swallow after logging: a list that cannot be sent is not worth the process (issue #16 exited here).
        this.log.error({ err }, 'could not publish the namespace list');
      }
    }
    return snap;
  }

  /** true when the list changed and was pushed */
  private applySnapshot(snap: Snapshot): boolean {
    this.snap = snap;
    const list: NamespaceList = { namespaces: snap.namespaces };
    if (snap.problems.length > 0) list.problems = snap.problems;
    const fingerprint = JSON.stringify(list);
    if (fingerprint === this.listFingerprint) return false;
    this.listFingerprint = fingerprint;
    this.listMessage = { type: 'namespaces', ...list };
    this.broadcast(this.listMessage);
    // The list changed: a watched namespace may have gone, lost its last process or gained one. Re-read now.
    for (const tw of [...this.tables.values()]) {
      if (!snap.byId.has(tw.id)) this.gone(tw.id);
      else this.requestPoll(tw);
    }
    return true;
  }

  /**
   * Re-read a table as soon as its rate allows: at once when the last read is long enough ago, else once at
   * notBefore (however many changes come meanwhile: that read sees the latest state). A person's few mounts
   * show at once (a burst); a hostile table changing all the time costs at most TABLE_EVENT_CPU_SHARE of the
   * time after its burst, a big one BIG_TABLE_EVENT_CPU_SHARE (issue #16: 26 reads of 1.1 MB a second).
   */
  private requestPoll(tw: TableWatch): void {
    if (tw.stopped) return;
    if (tw.polling) {
      tw.again = true;
      return;
    }
    const wait = tw.notBefore - Date.now();
    if (wait <= 0) {
      void this.pollTable(tw);
      return;
    }
    if (tw.timer) return;
    tw.timer = setTimeout(() => {
      tw.timer = null;
      void this.pollTable(tw);
    }, wait);
    tw.timer.unref();
  }

  /** Read the table once and plan the next read. Never rejects (callers `void` it): a failed read is logged and retried. */
  private async pollTable(tw: TableWatch): Promise<void> {
    if (tw.stopped) return;
    if (tw.polling) {
      tw.again = true;
      return;
    }
    if (tw.timer) clearTimeout(tw.timer);
    tw.timer = null;
    tw.polling = true;
    tw.again = false;
    tw.dueAt = null;
    let next: number | null = TABLE_MAX_INTERVAL_MS;
    try {
      next = await this.readTableOnce(tw);
    } catch (err) {
      this.log.debug({ err, id: tw.id }, 'reading a watched mount table failed; retrying');
    } finally {
      tw.polling = false;
    }
    if (tw.stopped) return;
    tw.dueAt = next === null ? null : Date.now() + next;
    if (tw.again) this.requestPoll(tw);
    this.ensureTicking();
  }

  /** One read; returns the delay to the next poll, or null when none is needed (gone, or processless). */
  private async readTableOnce(tw: TableWatch): Promise<number | null> {
    // The kernel's report this read answers (one that comes during the read is for the next one).
    const firedAt = tw.firedAt;
    tw.firedAt = null;
    let snap = this.snap ?? (await this.rescan());
    let where = snap ? this.source.tableAccess(tw.id, snap) : null;
    const started = performance.now();
    let read: MountinfoRead | null = null;
    // Track before reading: a change after the mark fires, one before it is in what we read.
    if (where) this.retrack(tw, where);
    // Swallow: an unreadable table (its processes left) is looked up again just below.
    if (where) read = await this.source.readTable(where.mntId, where.access).catch(() => null);
    if (read === null) {
      // Its processes left (or it is new to us): learn where it lives now before calling it gone.
      snap = await this.rescan();
      where = snap ? this.source.tableAccess(tw.id, snap) : null;
      if (!where || !snap?.byId.has(tw.id)) {
        if (snap) this.gone(tw.id);
        return null;
      }
      this.retrack(tw, where);
      read = await this.source.readTable(where.mntId, where.access);
    }
    if (tw.stopped || !where) return null;
    // What this table costs each time it changes: the read itself (not the wait for the worker, which is other
    // work's cost), then decoding, parsing and sending on this thread.
    const readMs = read.ms ?? performance.now() - started;
    const synced = performance.now();
    const raw = read.raw;
    if (!tw.raw || !raw.equals(tw.raw)) {
      const hadNsfs = tw.raw?.includes(' - nsfs ') ?? false;
      tw.raw = raw;
      // One page at most: a table of 20k long paths must not become one 160 MB message (see mountPage). Built
      // on the scan worker; the wait for it counts towards this table's rate below.
      const page = this.source.pageTable
        ? await this.source.pageTable(read)
        : mountPageJson(raw.toString('utf8'), read.cut);
      if (tw.stopped) return null;
      tw.message = mountsMessage(tw.id, page);
      tw.propagating = page.propagating;
      this.broadcast(tw.message, tw.id);
      if (firedAt !== null) this.hooks.pushed?.('mount', (performance.now() - firedAt) / 1000);
      // A new or removed nsfs bind changes the namespace list (NSFS column, persisted rows): rescan soon.
      if (hadNsfs || raw.includes(' - nsfs ')) this.requestRescan();
    }
    const cost = readMs + (performance.now() - synced);
    const now = Date.now();
    const share = raw.length >= BIG_TABLE_BYTES ? BIG_TABLE_EVENT_CPU_SHARE : TABLE_EVENT_CPU_SHARE;
    tw.readDebt = Math.max(0, tw.readDebt - (now - tw.readDebtAt) * share) + cost;
    tw.readDebtAt = now;
    const over = tw.readDebt - TABLE_EVENT_BURST_MS;
    tw.notBefore = now + Math.min(TABLE_EVENT_MAX_GAP_MS, Math.max(TABLE_EVENT_MIN_GAP_MS, over / share));
    // Tracked: mounts and umounts report; remounts and propagation changes (also made with a passing nsenter
    // in a namespace without processes) do not, so a slow re-read catches those.
    if (tw.tracker) return Math.min(TRACKED_REREAD_MAX_MS, Math.max(TRACKED_REREAD_MS, cost / TRACKED_CPU_SHARE));
    if (where.access.kind !== 'chain')
      return Math.min(TABLE_MAX_INTERVAL_MS, Math.max(TABLE_TICK_MS, cost / TABLE_CPU_SHARE));
    return tw.propagating ? PROPAGATION_POLL_MS : null;
  }

  /** Track the table unless a tracker is still live (its mark is on the namespace, whichever way it came). */
  private retrack(tw: TableWatch, where: { mntId: string; access: MountNsAccess }): void {
    if (tw.stopped || (tw.tracker && !tw.tracker.fired)) return; // stopped while a scan was awaited: no mark
    tw.tracker =
      this.source.trackTable?.(where.mntId, where.access, () => {
        tw.firedAt = performance.now();
        this.requestPoll(tw);
      }) ?? null;
  }

  private gone(id: string): void {
    const tw = this.tables.get(id);
    if (tw) this.stopTable(tw);
    for (const s of this.subs) {
      if (!s.ids.delete(id)) continue;
      this.emitTo(s, { type: 'gone', id });
    }
    this.ensureTicking();
  }

  private stopTable(tw: TableWatch): void {
    tw.tracker?.cancel();
    tw.tracker = null;
    tw.stopped = true;
    tw.dueAt = null;
    if (tw.timer) clearTimeout(tw.timer);
    tw.timer = null;
    this.tables.delete(tw.id);
  }

  private stopAll(): void {
    for (const tw of [...this.tables.values()]) this.stopTable(tw);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    if (this.listTimer) clearTimeout(this.listTimer);
    this.listTimer = null;
    if (this.handOnTimer) clearTimeout(this.handOnTimer);
    this.handOnTimer = null;
    this.pendingDelta = null;
    this.listDirty = false;
    // A new first subscriber must get a fresh list, not the one from before everybody left.
    this.snap = null;
    this.listMessage = null;
    this.listFingerprint = '';
    this.lastScan = null;
    this.lastFullScanAt = -Infinity;
    this.nextListCheckAt = 0;
  }

  private broadcast(e: EngineEvent, onlyWatchersOf?: string): void {
    for (const s of [...this.subs]) if (!onlyWatchersOf || s.ids.has(onlyWatchersOf)) this.emitTo(s, e);
  }

  private emitTo(sub: Subscriber, e: EngineEvent): void {
    try {
      sub.listener(e);
    } catch (err) {
      // Swallow after logging: one broken listener must not starve the others.
      this.log.error({ err }, 'namespace watch listener threw');
    }
  }
}
