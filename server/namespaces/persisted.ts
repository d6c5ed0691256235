// Persisted namespaces: nsfs bind mounts (`unshare --mount=FILE`, `ip netns add`), found in every mount
// namespace we can read — those with processes via /proc/PID/mountinfo (one read per distinct namespace), and
// persisted mount namespaces without processes by their namespace id with listmount/statmount (mounts/by-id.ts),
// breadth first, so a namespace bound only inside another persisted one is found too. Nothing is entered and
// no program runs: a namespace's owner controls its files, and none of them is ever executed by this scan.
// (Kernels before 6.15: mounts/enter-read.ts, a host helper that enters and reads but never execs.) Re-reads
// are bounded per scan (MOUNTS_PER_SCAN); the rest is refreshed in the background.
//
// How paths are shown (Namespace.nsfs): a bind in the server's own mount namespace is its plain path
// (`/run/nsconsole/ns/demo`). A bind seen only in another mount namespace is written `[mnt:4026532177]/path`:
// the path as seen inside that namespace. Such a string never starts with `/`, so nobody mistakes it for a
// path on the host, and it says exactly where to look. A foreign path equal to a plain one already listed for
// the same namespace is left out (copies made by `unshare --mount` of binds like /run/netns/x add no news).
import { nsIdInode, type Mount } from '../../shared/api.js';
import { nsfsTargetId, parseMountinfoLine, parseNsfsMounts } from '../mounts/mountinfo.js';
import { hopsOf, MAX_CHAIN_DEPTH, type MountNsAccess } from '../mounts/read.js';
import { mountNsIdOf, processlessNsfsMounts, processlessReadMode } from '../mounts/by-id.js';
import { readMountinfoByEntering } from '../mounts/enter-read.js';
import { trackMountNs, type MountNotifier, type MountTracker } from '../mounts/mount-notify.js';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { HelperPids } from '../proc/run.js';
import { yieldToEventLoop } from './discovery.js';
import { readNsLink } from '../proc/ns-links.js';
import { MAX_PID_ATTEMPTS } from '../proc/pids.js';
import type { NsfsJobItem, ReadCut } from '../proc/scan-jobs.js';
import type { ScanPool } from '../proc/scan-pool.js';
import { measured } from '../proc/scan-cost.js';

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
 * background at this age (when no mount events tell us sooner) rather than re-read on every list.
 */
const PROCESSLESS_REFRESH_MS = 30_000;
/**
 * A big table whose read took this long (or was cut) is someone's big or slow table: when it changes, its
 * cached binds are still used until its read may take no more than EXPENSIVE_READ_SHARE of the time (a
 * namespace with 20k stacked binds and a mount a second must not cost every list the read's time budget;
 * issue #16). 2 ms: a flat 5,000-mount table under a tight mount/umount loop reads in 5–10 ms, as long as the
 * whole idle list, and made every list twice as slow when re-read for each.
 */
const EXPENSIVE_READ_MS = 2;
const EXPENSIVE_READ_SHARE = 0.02;
/**
 * ...and big means at least this many bytes (one read(2) chunk of readCapped, ~500 ordinary mounts). The wall
 * time of a smaller read is the machine's load, not the table: on a busy 2-core machine a 2 kB table's read
 * took over 20 ms when its thread was preempted, and pacing it left a list right after a umount stale (the
 * README promises a list after a mount event shows it). A small table that changes constantly costs each list
 * one small read, like any other namespace.
 */
const EXPENSIVE_READ_BYTES = 64 * 1024;
/** Processless mount namespaces looked at between yields to the event loop. */
const READS_PER_CHUNK = 16;
/**
 * Mounts a scan may examine (one statmount each, ~2–3 µs idle, ~15 µs on a loaded 2-core VM) in processless
 * namespaces before it stops re-reading their tables and uses what it read before, refreshing the rest in the
 * background. 500 shared-propagation namespaces of ~30 mounts each, all invalidated by one mount on the host,
 * fit; an unprivileged user making many more cannot make every list pay for all of them (issue 16 item 8).
 */
const MOUNTS_PER_SCAN = 20_000;
/** Mounts the background refresh examines per event-loop turn: a few ms at a time. */
const MOUNTS_PER_BACKGROUND_TURN = 2_000;
/** Past this many mounts one namespace is searched for nsfs binds only this far, and says so. */
const MOUNTS_SEARCHED_PER_NS = 20_000;

interface CachedBinds {
  binds: { nsId: string; path: string }[];
  readAt: number;
  /**
   * Namespace inodes are reused once a namespace is gone, so an id alone could pick up a dead namespace's
   * binds. The kernel's 64-bit mount namespace id is never reused: it tells two namespaces with the same inode
   * apart (`self` and `pids:` for the others, whose reads are exact anyway).
   */
  identity: string;
  /**
   * Set while the kernel reports changes to this namespace's mounts: until it fires, `binds` is exactly what a
   * read would give, whatever its age or identity (the mark is on the namespace itself, and it fires when the
   * namespace dies, before its inode can be reused).
   */
  tracker: MountTracker | null;
  /** what the read could not do (a namespace searched only partly), reported with every use of the entry */
  problem?: string;
  /** what the read cost, ms, when the table is big (pacedCostMs); an expensive one is reused for a while after a change */
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
/** What a read costs for pacing: its time if the table is big and was slow or cut, else nothing (never paced). */
export function pacedCostMs(r: { ms: number; bytes: number; cut?: ReadCut }): number | undefined {
  if (r.bytes < EXPENSIVE_READ_BYTES) return undefined;
  return r.cut ? Math.max(r.ms, EXPENSIVE_READ_MS) : r.ms;
}

function isRateLimited(c: CachedBinds | undefined, now: number): c is CachedBinds {
  return c?.costMs !== undefined && c.costMs >= EXPENSIVE_READ_MS && now < c.readAt + c.costMs / EXPENSIVE_READ_SHARE;
}

/** A cache entry still known to be exact. */
function isLive(c: CachedBinds | undefined): c is CachedBinds & { tracker: MountTracker } {
  return c?.tracker != null && !c.tracker.fired;
}

/** A processless namespace reached through a chain of nsfs binds. */
type Chain = Extract<MountNsAccess, { kind: 'chain' }>;

/**
 * What tells this namespace from an earlier one with the same inode: the never-reused 64-bit mount namespace
 * id where the kernel gives it; on older kernels (the entering fallback) the bind's `ino:ctime` for a one-step
 * chain (its ctime is set when the namespace is first looked at and stays while a bind pins it), else the
 * chain itself. AppError when unreadable: the caller reports it.
 */
function identityOf(mnt: string, a: Chain): string {
  if (processlessReadMode() === 'by-id') return `mntns:${mountNsIdOf(mnt)}`;
  if (a.chain.length !== 1) return 'chain:' + a.chain.join('\0');
  try {
    const st = statSync(a.chain[0] as string, { bigint: true });
    return `${st.ino}:${st.ctimeNs}`;
  } catch {
    return 'unreadable'; // Swallow: the read that follows reports why
  }
}

/** Helper runs (entering fallback) a scan may make: each is charged as this many mounts of the scan's budget. */
const MOUNTS_PER_HELPER_RUN = 1_000;

export interface PersistedScannerDeps {
  selfMnt: string;
  /** the entering fallback's helpers (kernels before 6.15); by id, no helper runs */
  helperPids: HelperPids;
  pool: ScanPool;
  notifier: MountNotifier;
  log: Logger;
}

export class PersistedScanner {
  private readonly cache = new Map<string, CachedBinds>();
  /** processless namespaces waiting for a background re-read, with their bind chains */
  private readonly refreshQueue = new Map<string, Chain>();
  private readonly helperPids: HelperPids;
  private draining = false;
  private disposed = false;
  /** mounts this scan may still examine in processless namespaces (MOUNTS_PER_SCAN at its start) */
  private scanBudget = 0;
  private readonly selfMnt: string;
  private readonly pool: ScanPool;
  private readonly notifier: MountNotifier;
  private readonly log: Logger;

  constructor(deps: PersistedScannerDeps) {
    ({
      selfMnt: this.selfMnt,
      helperPids: this.helperPids,
      pool: this.pool,
      notifier: this.notifier,
      log: this.log,
    } = deps);
  }

  /** `mntMembers`: mount namespace id → its PIDs (ascending), from the process scan. */
  async scan(mntMembers: ReadonlyMap<string, readonly number[]>): Promise<PersistedScan> {
    const binds: NsfsBind[] = [];
    const access = new Map<string, MountNsAccess>();
    const errors = new Map<string, string>();
    const visited = new Set<string>([this.selfMnt]);
    /** mount namespaces read, with how to reach what they bind */
    const holders: {
      mnt: string;
      access: MountNsAccess;
      via: number | null;
      found: { nsId: string; path: string }[];
    }[] = [];

    // Whatever changed up to now fires its tracker first, so no cache entry used below is stale.
    measured(() => this.notifier.sync());
    this.scanBudget = MOUNTS_PER_SCAN;

    // Phase 1: the server's own namespace and every one with a process: cached while tracked, else one
    // mountinfo read each (split with the worker thread on busy machines), tracked before it is read.
    holders.push({ mnt: this.selfMnt, access: { kind: 'self' }, via: null, found: measured(() => this.selfBinds()) });
    const items: NsfsJobItem[] = [];
    const trackers: (MountTracker | null)[] = [];
    for (const [mnt, pids] of mntMembers) {
      if (mnt === this.selfMnt) continue;
      visited.add(mnt);
      const cached = this.cache.get(mnt);
      if (isLive(cached) || isRateLimited(cached, Date.now())) {
        holders.push({
          mnt,
          access: { kind: 'pids', pids },
          via: cached.binds.length > 0 ? livePidIn(mnt, pids) : null,
          found: cached.binds,
        });
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
    measured(() =>
      items.forEach((item, i) => {
        const r = results[i];
        const tracker = trackers[i] ?? null;
        if (!r) {
          tracker?.cancel();
          errors.set(item.mnt, `every process left ${item.mnt} while it was being read`);
          return;
        }
        const found = nsfsBindsFromLines(r.lines);
        const note = r.cut
          ? `its mount table was read only in part (${r.cut === 'bytes' ? 'longer than the byte cap' : 'slower than the time budget'}); nsfs binds past that are not listed`
          : undefined;
        if (note) errors.set(item.mnt, note);
        // Remember what a namespace with processes holds: when its last process leaves, this is still right.
        const costMs = pacedCostMs(r);
        this.cache.set(item.mnt, {
          binds: found,
          readAt: Date.now(),
          identity: r.identity,
          tracker,
          ...(costMs !== undefined ? { costMs } : {}),
          ...(note ? { note } : {}),
        });
        holders.push({ mnt: item.mnt, access: { kind: 'pids', pids: item.pids }, via: r.pid, found });
      }),
    );

    // Phase 2: persisted mount namespaces without processes, breadth first through the binds found so far.
    for (let i = 0; i < holders.length; i++) {
      const h = holders[i] as (typeof holders)[number];
      for (const b of h.found) {
        binds.push({ ...b, holder: h.mnt });
        if (!b.nsId.startsWith('mnt:') || visited.has(b.nsId)) continue;
        // Read by id however it is reached; the chain of bind paths is only for tracking changes by path.
        const a = this.chainTo(h.access, h.via, b) ?? { kind: 'chain', chain: [], inodes: [] };
        visited.add(b.nsId);
        access.set(b.nsId, a);
        try {
          holders.push({
            mnt: b.nsId,
            access: a,
            via: null,
            found: await this.processlessBinds(b.nsId, a, (problem) => errors.set(b.nsId, problem)),
          });
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
    this.disposed = true;
    this.refreshQueue.clear();
    for (const cached of this.cache.values()) cached.tracker?.cancel();
    this.cache.clear();
  }

  private chainTo(holder: MountNsAccess, via: number | null, b: { nsId: string; path: string }): Chain | null {
    const inode = nsIdInode(b.nsId);
    if (holder.kind === 'self') return { kind: 'chain', chain: [b.path], inodes: [inode] };
    if (holder.kind === 'pids')
      return via === null ? null : { kind: 'chain', chain: [`/proc/${via}/root${b.path}`], inodes: [inode] };
    if (holder.chain.length === 0 || holder.chain.length >= MAX_CHAIN_DEPTH) return null;
    return { kind: 'chain', chain: [...holder.chain, b.path], inodes: [...holder.inodes, inode] };
  }

  /**
   * Cached while exact; else read now while this scan's budget lasts, else the last read is used (or, for a
   * namespace never read, an error saying it is queued) and the table is re-read in the background.
   */
  private async processlessBinds(
    mnt: string,
    chain: Chain,
    report: (problem: string) => void,
  ): Promise<{ nsId: string; path: string }[]> {
    const use = (c: CachedBinds) => {
      if (c.problem) report(c.problem);
      return c.binds;
    };
    const cached = this.cache.get(mnt);
    if (isLive(cached)) return use(cached);
    const identity = identityOf(mnt, chain);
    const known = cached !== undefined && cached.identity === identity;
    if (known && !cached.tracker?.fired) {
      if (Date.now() - cached.readAt > PROCESSLESS_REFRESH_MS) this.refreshInBackground(mnt, chain);
      return use(cached);
    }
    if (this.scanBudget > 0) return use(await this.readChain(mnt, chain, identity, (n) => (this.scanBudget -= n)));
    this.refreshInBackground(mnt, chain);
    if (known) return use(cached);
    throw new Error(
      `not read yet: this scan already examined ${MOUNTS_PER_SCAN} mounts of namespaces without processes; ${mnt} is read in the background`,
    );
  }

  private async readChain(
    mnt: string,
    chain: Chain,
    identity: string,
    charge: (mounts: number) => void,
  ): Promise<CachedBinds> {
    this.cache.get(mnt)?.tracker?.cancel();
    const tracker = trackMountNs(this.notifier, mnt, chain);
    try {
      const found = await this.nsfsMountsOf(mnt, chain);
      charge(found.examined);
      const entry: CachedBinds = { binds: toBinds(found.mounts), readAt: Date.now(), identity, tracker };
      if (found.examined < found.total)
        entry.problem = `${mnt} has ${found.total} mounts; only the first ${found.examined} were searched for nsfs binds`;
      this.cache.set(mnt, entry);
      return entry;
    } catch (err) {
      tracker?.cancel();
      throw err;
    }
  }

  /** nsfs binds in a processless namespace: by id, or on older kernels through the entering fallback. */
  private async nsfsMountsOf(mnt: string, chain: Chain): Promise<{ mounts: Mount[]; examined: number; total: number }> {
    if (processlessReadMode() === 'by-id') return measured(() => processlessNsfsMounts(mnt, MOUNTS_SEARCHED_PER_NS));
    const mounts = parseNsfsMounts(
      (await readMountinfoByEntering(mnt, hopsOf(chain), this.helperPids)).toString('utf8'),
    );
    return { mounts, examined: MOUNTS_PER_HELPER_RUN, total: MOUNTS_PER_HELPER_RUN };
  }

  private refreshInBackground(mnt: string, chain: Chain): void {
    if (this.disposed) return;
    this.refreshQueue.set(mnt, chain);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => void this.drainRefreshes());
  }

  /** Re-read queued namespaces, MOUNTS_PER_BACKGROUND_TURN mounts per event-loop turn, so no list waits on them. */
  private async drainRefreshes(): Promise<void> {
    let budget = MOUNTS_PER_BACKGROUND_TURN;
    for (const [mnt, chain] of [...this.refreshQueue]) {
      if (budget <= 0 || this.disposed) break;
      this.refreshQueue.delete(mnt);
      try {
        await this.readChain(mnt, chain, identityOf(mnt, chain), (n) => (budget -= n));
      } catch (err) {
        // Swallow after logging: the next scan reports the namespace's error if it persists.
        this.log.debug({ err, mnt }, 'background refresh of a persisted mount namespace failed');
      }
    }
    if (this.refreshQueue.size > 0 && !this.disposed) setImmediate(() => void this.drainRefreshes());
    else this.draining = false;
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
