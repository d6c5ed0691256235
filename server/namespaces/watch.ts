// Live changes: the namespace list and the mount tables of watched namespaces, pushed to subscribers.
//
// Nothing is held open between polls. An open /proc/PID/mountinfo fd pins a mount namespace after its last
// process exits, and a helper process in a namespace would show up as NPROCS 1, so each poll opens, reads and
// closes. Poll intervals adapt to what a poll costs so that watching stays near 0.5% CPU per poller even on a
// machine with thousands of processes or a table with thousands of mounts: interval ≥ cost / CPU share.
// Everything stops when the last subscriber leaves.
import type { Mount, NamespaceList } from '../../shared/api.js';
import type { EventsServerMessage } from '../../shared/events.js';
import type { Logger } from '../log.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import type { MountNsAccess } from '../mounts/read.js';
import type { Snapshot } from './snapshot.js';

export type EngineEvent = Exclude<EventsServerMessage, { type: 'error' }>;
export type EngineListener = (e: EngineEvent) => void;

export interface WatchHandle {
  setIds(ids: string[]): void;
  dispose(): void;
}

export interface WatchSource {
  snapshot(): Promise<Snapshot>;
  /** where `id`'s mount table comes from according to `snap`; null when the namespace is gone */
  tableAccess(id: string, snap: Snapshot): { mntId: string; access: MountNsAccess } | null;
  readTable(mntId: string, access: MountNsAccess): Promise<string>;
}

/** The namespace list is rescanned at least this often (process starts/exits, unshare, nsfs binds). */
const LIST_MIN_INTERVAL_MS = 1000;
const LIST_MAX_INTERVAL_MS = 10_000;
/** A watched table is re-read this often: with read + push this keeps a mount's arrival well under 250 ms. */
const TABLE_MIN_INTERVAL_MS = 100;
const TABLE_MAX_INTERVAL_MS = 2000;
/** Share of one CPU a single poller may use; its interval stretches when a poll costs more. */
const POLL_CPU_SHARE = 0.005;
/**
 * A mount namespace without processes changes only by propagation from its peers or masters (entering it
 * makes it have a process). Re-read it this often, via a short nsenter, only when it has non-private mounts.
 */
const PROPAGATION_POLL_MS = 2000;

interface Subscriber {
  listener: EngineListener;
  ids: Set<string>;
}

interface TableWatch {
  id: string;
  text: string | null;
  mounts: Mount[] | null;
  timer: NodeJS.Timeout | null;
  polling: boolean;
  stopped: boolean;
}

const intervalFor = (costMs: number, min: number, max: number) => Math.min(max, Math.max(min, costMs / POLL_CPU_SHARE));

export class NamespaceWatcher {
  private readonly subs = new Set<Subscriber>();
  private readonly tables = new Map<string, TableWatch>();
  private snap: Snapshot | null = null;
  private listMessage: EngineEvent | null = null;
  private listFingerprint = '';
  private listTimer: NodeJS.Timeout | null = null;
  private scanning: Promise<Snapshot | null> | null = null;
  private disposed = false;

  constructor(
    private readonly source: WatchSource,
    private readonly log: Logger,
  ) {}

  subscribe(listener: EngineListener, ids: readonly string[]): WatchHandle {
    const sub: Subscriber = { listener, ids: new Set() };
    this.subs.add(sub);
    if (this.listMessage) this.emitTo(sub, this.listMessage);
    if (!this.listTimer && !this.scanning) void this.rescan();
    this.setIds(sub, ids);
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

  /** Scan now (a table's processes left, or a table's nsfs binds changed); shares an in-flight scan. */
  rescan(): Promise<Snapshot | null> {
    this.scanning ??= this.scanList().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private setIds(sub: Subscriber, ids: readonly string[]): void {
    const before = sub.ids;
    sub.ids = new Set(ids);
    this.syncTables();
    for (const id of sub.ids) {
      const known = this.tables.get(id)?.mounts;
      // Newly watched and already read for someone else: answer at once; otherwise the first poll answers all.
      if (known && !before.has(id)) this.emitTo(sub, { type: 'mounts', id, mounts: known });
    }
  }

  /** Start table polls that someone needs, stop those nobody needs. */
  private syncTables(): void {
    const needed = new Set<string>();
    for (const s of this.subs) for (const id of s.ids) needed.add(id);
    for (const [id, tw] of this.tables) if (!needed.has(id)) this.stopTable(tw);
    for (const id of needed) {
      if (this.tables.has(id)) continue;
      const tw: TableWatch = { id, text: null, mounts: null, timer: null, polling: false, stopped: false };
      this.tables.set(id, tw);
      void this.pollTable(tw);
    }
  }

  private async scanList(): Promise<Snapshot | null> {
    if (this.listTimer) clearTimeout(this.listTimer);
    this.listTimer = null;
    const started = performance.now();
    let snap: Snapshot | null = null;
    try {
      snap = await this.source.snapshot();
    } catch (err) {
      this.log.warn({ err }, 'namespace scan failed; retrying at the next tick');
    }
    const cost = performance.now() - started;
    if (this.disposed || this.subs.size === 0) return snap;
    if (snap) this.applySnapshot(snap);
    this.listTimer = setTimeout(() => void this.rescan(), intervalFor(cost, LIST_MIN_INTERVAL_MS, LIST_MAX_INTERVAL_MS));
    this.listTimer.unref();
    return snap;
  }

  private applySnapshot(snap: Snapshot): void {
    this.snap = snap;
    const list: NamespaceList = { namespaces: snap.namespaces };
    if (snap.problems.length > 0) list.problems = snap.problems;
    const fingerprint = JSON.stringify(list);
    if (fingerprint === this.listFingerprint) return;
    this.listFingerprint = fingerprint;
    this.listMessage = { type: 'namespaces', ...list };
    this.broadcast(this.listMessage);
    // The list changed: a watched namespace may have gone, lost its last process or gained one. Re-read now.
    for (const tw of this.tables.values()) {
      if (!snap.byId.has(tw.id)) this.gone(tw.id);
      else if (!tw.polling) void this.pollTable(tw);
    }
  }

  private async pollTable(tw: TableWatch): Promise<void> {
    if (tw.polling || tw.stopped) return;
    tw.polling = true;
    if (tw.timer) clearTimeout(tw.timer);
    tw.timer = null;
    let next: number | null = TABLE_MAX_INTERVAL_MS;
    try {
      next = await this.readTableOnce(tw);
    } catch (err) {
      this.log.debug({ err, id: tw.id }, 'reading a watched mount table failed; retrying');
    } finally {
      tw.polling = false;
    }
    if (tw.stopped || next === null) return;
    tw.timer = setTimeout(() => void this.pollTable(tw), next);
    tw.timer.unref();
  }

  /** One read; returns the delay to the next poll, or null when no timer is needed (gone, or processless). */
  private async readTableOnce(tw: TableWatch): Promise<number | null> {
    let snap = this.snap ?? (await this.rescan());
    let where = snap ? this.source.tableAccess(tw.id, snap) : null;
    const started = performance.now();
    let text: string | null = null;
    if (where) text = await this.source.readTable(where.mntId, where.access).catch(() => null);
    if (text === null) {
      // Its processes left (or it is new to us): learn where it lives now before calling it gone.
      snap = await this.rescan();
      where = snap ? this.source.tableAccess(tw.id, snap) : null;
      if (!where || !snap?.byId.has(tw.id)) {
        if (snap) this.gone(tw.id);
        return null;
      }
      text = await this.source.readTable(where.mntId, where.access);
    }
    const cost = performance.now() - started;
    if (tw.stopped || !where) return null;
    if (text !== tw.text) {
      const hadNsfs = tw.text?.includes(' - nsfs ') ?? false;
      tw.text = text;
      tw.mounts = parseMountinfo(text);
      this.broadcast({ type: 'mounts', id: tw.id, mounts: tw.mounts }, tw.id);
      // A new or removed nsfs bind changes the namespace list (NSFS column, persisted rows): rescan now.
      if (hadNsfs || text.includes(' - nsfs ')) void this.rescan();
    }
    if (where.access.kind !== 'chain') return intervalFor(cost, TABLE_MIN_INTERVAL_MS, TABLE_MAX_INTERVAL_MS);
    return tw.mounts?.some((m) => m.propagation !== 'private' && m.propagation !== 'unbindable') ? PROPAGATION_POLL_MS : null;
  }

  private gone(id: string): void {
    const tw = this.tables.get(id);
    if (tw) this.stopTable(tw);
    for (const s of this.subs) {
      if (!s.ids.delete(id)) continue;
      this.emitTo(s, { type: 'gone', id });
    }
  }

  private stopTable(tw: TableWatch): void {
    tw.stopped = true;
    if (tw.timer) clearTimeout(tw.timer);
    tw.timer = null;
    this.tables.delete(tw.id);
  }

  private stopAll(): void {
    for (const tw of [...this.tables.values()]) this.stopTable(tw);
    if (this.listTimer) clearTimeout(this.listTimer);
    this.listTimer = null;
    // A new first subscriber must get a fresh list, not the one from before everybody left.
    this.snap = null;
    this.listMessage = null;
    this.listFingerprint = '';
  }

  private broadcast(e: EngineEvent, onlyWatchersOf?: string): void {
    for (const s of this.subs) if (!onlyWatchersOf || s.ids.has(onlyWatchersOf)) this.emitTo(s, e);
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
