// Persisted namespaces: nsfs bind mounts (`unshare --mount=FILE`, `ip netns add`), found in every mount
// namespace we can read — those with processes via /proc/PID/mountinfo (one read per distinct namespace), and
// persisted mount namespaces without processes via a short-lived nsenter, breadth first, so a namespace bound
// only inside another persisted one is found too.
//
// How paths are shown (Namespace.nsfs): a bind in the server's own mount namespace is its plain path
// (`/run/nsconsole/ns/demo`). A bind seen only in another mount namespace is written `[mnt:4026532177]/path`:
// the path as seen inside that namespace. Such a string never starts with `/`, so nobody mistakes it for a
// path on the host, and it says exactly where to look. A foreign path equal to a plain one already listed for
// the same namespace is left out (copies made by `unshare --mount` of binds like /run/netns/x add no news).
import type { Mount } from '../../shared/api.js';
import { nsfsTargetId, parseMountinfoLine, parseNsfsMounts } from '../mounts/mountinfo.js';
import { MAX_CHAIN_DEPTH, readMountinfoViaChain, type MountNsAccess } from '../mounts/read.js';
import { trackMountNs, type MountNotifier, type MountTracker } from '../mounts/mount-notify.js';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { HelperPids } from './run.js';
import { readNsLink, yieldToEventLoop } from './discovery.js';
import type { NsfsJobItem, ScanPool } from './scan-pool.js';

export interface NsfsBind {
  /** the namespace that is persisted */
  nsId: string;
  /** the mount point, as seen inside `holder` */
  path: string;
  /** the mount namespace the bind lives in */
  holder: string;
}

export interface PersistedScan {
  binds: NsfsBind[];
  /** how to reach each mount namespace without processes that we found bound somewhere */
  access: Map<string, MountNsAccess>;
  /** mount namespaces whose table could not be read, and why */
  errors: Map<string, string>;
}

/**
 * A mount namespace without processes changes only when someone enters it (then it has a process and is read
 * through /proc) or when a mount propagates into it. Its nsfs binds are therefore cached and refreshed in the
 * background at this age rather than spawning an nsenter per persisted namespace on every list.
 */
const PROCESSLESS_REFRESH_MS = 30_000;
/**
 * A table whose read took this long (or was cut) is someone's big or slow table: when it changes, its cached
 * binds are still used until its read may take no more than EXPENSIVE_READ_SHARE of the time (a namespace with
 * 20k stacked binds and a mount a second must not cost every list the read's time budget; issue #16).
 */
const EXPENSIVE_READ_MS = 20;
const EXPENSIVE_READ_SHARE = 0.02;
/** Processless mount namespaces looked at between yields to the event loop. */
const READS_PER_CHUNK = 16;
/** How many PIDs of a mount namespace to try before giving up on one whose processes keep exiting. */
const MAX_PID_ATTEMPTS = 8;

interface CachedBinds {
  binds: { nsId: string; path: string }[];
  readAt: number;
  /**
   * Namespace inodes are reused once a namespace is gone, so an id alone could pick up a dead namespace's
   * binds. The nsfs inode's ctime is set when the namespace is first looked at and stays while a bind pins it:
   * `ino:ctime` tells two namespaces with the same id apart.
   */
  identity: string;
  /**
   * Set while the kernel reports changes to this namespace's mounts: until it fires, `binds` is exactly what a
   * read would give, whatever its age or identity (the mark is on the namespace itself, and it fires when the
   * namespace dies, before its inode can be reused).
   */
  tracker: MountTracker | null;
  /** what the read cost, ms; an expensive one is reused for a while after a change (EXPENSIVE_READ_MS) */
  costMs?: number;
  /** the row's error while these binds stand: the read was cut */
  note?: string;
}

/**
 * A PID still in `mnt`, to reach binds inside it through /proc/PID/root (the scan's lowest one may have exited
 * since); null when none is left of the first few, and the binds in it are then not followed this time.
 */
function livePidIn(mnt: string, pids: readonly number[]): number | null {
  for (const pid of pids.slice(0, MAX_PID_ATTEMPTS)) if (readNsLink(pid, 'mnt') === mnt) return pid;
  return null;
}

/** An expensive table read recently enough that a change does not make it read again yet. */
function isRateLimited(c: CachedBinds | undefined, now: number): c is CachedBinds {
  return c?.costMs !== undefined && c.costMs >= EXPENSIVE_READ_MS && now < c.readAt + c.costMs / EXPENSIVE_READ_SHARE;
}

/** A cache entry still known to be exact. */
function isLive(c: CachedBinds | undefined): c is CachedBinds & { tracker: MountTracker } {
  return c?.tracker != null && !c.tracker.fired;
}

/** `ino:ctimeNs` of the nsfs file at `path`; for a deeper chain (not stat-able from here) the chain itself. */
function identityOf(chain: readonly string[]): string {
  if (chain.length !== 1) return 'chain:' + chain.join('\0');
  try {
    const st = statSync(chain[0] as string, { bigint: true });
    return `${st.ino}:${st.ctimeNs}`;
  } catch {
    return 'unreadable'; // Swallow: the read that follows reports why
  }
}

export interface PersistedScannerDeps {
  selfMnt: string;
  helperPids: HelperPids;
  pool: ScanPool;
  notifier: MountNotifier;
  log: Logger;
}

export class PersistedScanner {
  private readonly cache = new Map<string, CachedBinds>();
  private readonly refreshing = new Set<string>();
  private readonly selfMnt: string;
  private readonly helperPids: HelperPids;
  private readonly pool: ScanPool;
  private readonly notifier: MountNotifier;
  private readonly log: Logger;

  constructor(deps: PersistedScannerDeps) {
    ({ selfMnt: this.selfMnt, helperPids: this.helperPids, pool: this.pool, notifier: this.notifier, log: this.log } = deps);
  }

  /** `mntMembers`: mount namespace id → its PIDs (ascending), from the process scan. */
  async scan(mntMembers: ReadonlyMap<string, readonly number[]>): Promise<PersistedScan> {
    const binds: NsfsBind[] = [];
    const access = new Map<string, MountNsAccess>();
    const errors = new Map<string, string>();
    const visited = new Set<string>([this.selfMnt]);
    /** mount namespaces read, with how to reach what they bind */
    const holders: { mnt: string; access: MountNsAccess; via: number | null; found: { nsId: string; path: string }[] }[] = [];

    // Whatever changed up to now fires its tracker first, so no cache entry used below is stale.
    this.notifier.sync();

    // Phase 1: the server's own namespace and every one with a process: cached while tracked, else one
    // mountinfo read each (split with the worker thread on busy machines), tracked before it is read.
    holders.push({ mnt: this.selfMnt, access: { kind: 'self' }, via: null, found: this.selfBinds() });
    const items: NsfsJobItem[] = [];
    const trackers: (MountTracker | null)[] = [];
    for (const [mnt, pids] of mntMembers) {
      if (mnt === this.selfMnt) continue;
      visited.add(mnt);
      const cached = this.cache.get(mnt);
      if (isLive(cached) || isRateLimited(cached, Date.now())) {
        holders.push({ mnt, access: { kind: 'pids', pids }, via: cached.binds.length > 0 ? livePidIn(mnt, pids) : null, found: cached.binds });
        if (cached.note) errors.set(mnt, cached.note);
      } else {
        this.cache.get(mnt)?.tracker?.cancel();
        items.push({ mnt, pids });
        trackers.push(trackMountNs(this.notifier, mnt, { kind: 'pids', pids }));
      }
    }
    let results: Awaited<ReturnType<ScanPool['nsfs']>>;
    try {
      results = await this.pool.nsfs(items, MAX_PID_ATTEMPTS);
    } catch (err) {
      for (const t of trackers) t?.cancel();
      throw err;
    }
    items.forEach((item, i) => {
      const r = results[i];
      const tracker = trackers[i] ?? null;
      if (!r) {
        tracker?.cancel();
        errors.set(item.mnt, `every process left ${item.mnt} while it was being read`);
        return;
      }
      const found = nsfsBindsFromLines(r.lines);
      const note = r.cut ? `its mount table was read only in part (${r.cut === 'bytes' ? 'longer than the byte cap' : 'slower than the time budget'}); nsfs binds past that are not listed` : undefined;
      if (note) errors.set(item.mnt, note);
      // Remember what a namespace with processes holds: when its last process leaves, this is still right.
      this.cache.set(item.mnt, { binds: found, readAt: Date.now(), identity: r.identity, tracker, costMs: r.cut ? Math.max(r.ms, EXPENSIVE_READ_MS) : r.ms, ...(note ? { note } : {}) });
      holders.push({ mnt: item.mnt, access: { kind: 'pids', pids: item.pids }, via: r.pid, found });
    });

    // Phase 2: persisted mount namespaces without processes, breadth first through the binds found so far.
    for (let i = 0; i < holders.length; i++) {
      const h = holders[i] as (typeof holders)[number];
      for (const b of h.found) {
        binds.push({ ...b, holder: h.mnt });
        if (!b.nsId.startsWith('mnt:') || visited.has(b.nsId)) continue;
        const chain = this.chainTo(h.access, h.via, b.path);
        if (!chain) continue;
        visited.add(b.nsId);
        const a: MountNsAccess = { kind: 'chain', chain };
        access.set(b.nsId, a);
        try {
          holders.push({ mnt: b.nsId, access: a, via: null, found: await this.processlessBinds(b.nsId, chain) });
        } catch (e) {
          errors.set(b.nsId, (e as Error).message);
        }
        if (holders.length % READS_PER_CHUNK === 0) await yieldToEventLoop();
      }
    }
    // Forget namespaces that no longer exist anywhere, so the cache cannot grow without bound.
    for (const [mnt, cached] of this.cache) {
      if (visited.has(mnt)) continue;
      cached.tracker?.cancel();
      this.cache.delete(mnt);
    }
    return { binds, access, errors };
  }

  private selfBinds(): { nsId: string; path: string }[] {
    const cached = this.cache.get(this.selfMnt);
    if (isLive(cached)) return cached.binds;
    const tracker = trackMountNs(this.notifier, this.selfMnt, { kind: 'self' });
    const binds = nsfsBindsIn(readFileSync('/proc/self/mountinfo', 'utf8'));
    this.cache.set(this.selfMnt, { binds, readAt: Date.now(), identity: 'self', tracker });
    return binds;
  }

  /** Stop tracking everything: the notifier's groups are few and shared with watched tables. */
  dispose(): void {
    for (const cached of this.cache.values()) cached.tracker?.cancel();
    this.cache.clear();
  }

  private chainTo(holder: MountNsAccess, via: number | null, path: string): string[] | null {
    if (holder.kind === 'self') return [path];
    if (holder.kind === 'pids') return via === null ? null : [`/proc/${via}/root${path}`];
    return holder.chain.length < MAX_CHAIN_DEPTH ? [...holder.chain, path] : null;
  }

  /** Cached, refreshed in the background when old; read (awaited) the first time and for a new namespace. */
  private async processlessBinds(mnt: string, chain: readonly string[]): Promise<{ nsId: string; path: string }[]> {
    const cached = this.cache.get(mnt);
    if (isLive(cached)) return cached.binds;
    const identity = identityOf(chain);
    if (!cached || cached.identity !== identity || cached.tracker?.fired) return this.readChain(mnt, chain, identity);
    if (Date.now() - cached.readAt > PROCESSLESS_REFRESH_MS) this.refreshInBackground(mnt, chain);
    return cached.binds;
  }

  private async readChain(mnt: string, chain: readonly string[], identity: string): Promise<{ nsId: string; path: string }[]> {
    this.cache.get(mnt)?.tracker?.cancel();
    const tracker = trackMountNs(this.notifier, mnt, { kind: 'chain', chain });
    try {
      const binds = nsfsBindsIn(await readMountinfoViaChain(chain, this.helperPids));
      this.cache.set(mnt, { binds, readAt: Date.now(), identity, tracker });
      return binds;
    } catch (err) {
      tracker?.cancel();
      throw err;
    }
  }

  private refreshInBackground(mnt: string, chain: readonly string[]): void {
    if (this.refreshing.has(mnt)) return;
    this.refreshing.add(mnt);
    this.readChain(mnt, chain, identityOf(chain))
      .catch((err: unknown) => {
        // Swallow after logging: the next scan reports the namespace's error if it persists.
        this.log.debug({ err, mnt }, 'background refresh of a persisted mount namespace failed');
        this.cache.delete(mnt);
      })
      .finally(() => this.refreshing.delete(mnt));
  }
}

export function nsfsBindsIn(mountinfo: string): { nsId: string; path: string }[] {
  return toBinds(parseNsfsMounts(mountinfo));
}

function nsfsBindsFromLines(lines: readonly string[]): { nsId: string; path: string }[] {
  return toBinds(lines.map(parseMountinfoLine));
}

function toBinds(mounts: readonly Mount[]): { nsId: string; path: string }[] {
  const out: { nsId: string; path: string }[] = [];
  for (const m of mounts) {
    const nsId = nsfsTargetId(m);
    if (nsId) out.push({ nsId, path: m.target });
  }
  return out;
}

/** The `nsfs` strings of each namespace, per the rule at the top of this file. */
export function nsfsPathsByNamespace(binds: readonly NsfsBind[], selfMnt: string): Map<string, string[]> {
  const plain = new Map<string, Set<string>>();
  for (const b of binds) if (b.holder === selfMnt) addTo(plain, b.nsId, b.path);
  const out = new Map<string, string[]>();
  for (const [nsId, paths] of plain) out.set(nsId, [...paths]);
  const foreignSeen = new Map<string, Set<string>>();
  for (const b of binds) {
    if (b.holder === selfMnt || plain.get(b.nsId)?.has(b.path)) continue;
    if (foreignSeen.get(b.nsId)?.has(b.path)) continue; // the same path in several copies: show it once
    addTo(foreignSeen, b.nsId, b.path);
    const list = out.get(b.nsId) ?? [];
    list.push(`[${b.holder}]${b.path}`);
    out.set(b.nsId, list);
  }
  return out;
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
