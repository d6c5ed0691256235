// How often the namespace watcher looks, and why: one place for the timing policy of watch.ts.
import { readProcFile } from '../mounts/read.js';

/**
 * Tick while untracked tables are watched (no mount events here). A mount then reaches subscribers after at most one tick plus a read: p95
 * about 150 ms, inside the 250 ms target, at ~7 wake-ups a second.
 */
export const TABLE_TICK_MS = 150;
export const TABLE_MAX_INTERVAL_MS = 2000;
/**
 * The list watcher looks at /proc/loadavg this often: its last two fields (tasks, last PID handed out) change
 * whenever any process or thread starts or exits — even one that lived only between two looks, like the
 * `mount` or `unshare` that made a new nsfs bind. One ~10 µs read instead of a full scan when nothing happened.
 */
export const LIST_CHECK_MS = 500;
/**
 * With process events (and every table tracked) nothing needs a fast tick: this one only re-reads tracked
 * tables that are due and starts the EVENT_DRIVEN_MAX_AGE_MS scan.
 */
export const EVENT_DRIVEN_TICK_MS = 5000;
/** Full scan at least this often anyway: a process can setns()/unshare() in place without any fork or exit. */
export const LIST_MAX_AGE_MS = 10_000;
/**
 * The same with process events: `unshare`, `nsenter` and `ip netns exec` all exec after switching, which
 * reports; only a program that switches in place and never execs waits for this.
 */
export const EVENT_DRIVEN_MAX_AGE_MS = 30_000;
/**
 * Share of one CPU a single table poller may use; its interval stretches when a poll costs more. On an idle
 * machine a small table reads in ~0.3 ms (150 ms interval, 0.2% CPU); on a loaded one the kernel takes 1.5–4 ms
 * for the same 45-line table, and a share of 0.5% stretched the interval to 300–800 ms — a p95 of 1.9 s from
 * mount to client against the 250 ms target. 2% keeps small tables at 150–200 ms; a 5,000-mount table
 * (20–28 ms a read) still backs off to about a second.
 */
export const TABLE_CPU_SHARE = 0.02;
/**
 * Share of one CPU the list watcher may use on a machine that starts processes all the time (each start makes
 * the next check rescan). On an idle machine the list costs one scan per LIST_MAX_AGE_MS instead.
 */
export const LIST_CPU_SHARE = 0.01;
/**
 * ...but a person who just ran `unshare` in a pane expects the list to show it soon: however much a scan costs
 * on a loaded machine, never wait longer than this for the next one. (An uncapped gap of cost/share kept a new
 * namespace at NPROCS 0 for 20+ s under load; a 1 s cap rescanned so often under the bench's process churn
 * that watched tables' p95 went from 159 ms to 850 ms.)
 */
export const LIST_MAX_GAP_MS = 3000;
/**
 * A mount namespace without processes changes only by propagation from its peers or masters (entering it
 * makes it have a process). Re-read it this often (by namespace id, no helper), only when it has non-private mounts.
 */
export const PROPAGATION_POLL_MS = 2000;
/**
 * A tracked table is told about every mount and umount, but not about remounts (options) or propagation
 * changes: re-read it this often for those, longer for a table whose read costs more than TRACKED_CPU_SHARE.
 */
export const TRACKED_REREAD_MS = 10_000;
export const TRACKED_REREAD_MAX_MS = 30_000;
export const TRACKED_CPU_SHARE = 0.001;
/**
 * A table the kernel says changed is re-read at once, within a budget: each read (and parse and send) adds
 * its cost to a debt that time pays back at TABLE_EVENT_CPU_SHARE. While the debt is under
 * TABLE_EVENT_BURST_MS, reads follow changes at once (someone's mount, umount, mount again); above, the next
 * read waits until it is back under, so a table changing all the time costs at most that share, and the changes
 * meanwhile are all in that one read. (A plain cost/share gap after every read put a small table's umount
 * 300 ms behind its mount on a loaded machine, where a read's wall time was ~15 ms.) The minimum gap coalesces
 * a storm of events into one read; the maximum keeps a hostile table from looking frozen for long.
 */
export const TABLE_EVENT_CPU_SHARE = 0.1;
/**
 * ...and a big table (at least BIG_TABLE_BYTES, ~500 ordinary mounts) only this share once its burst is spent.
 * Each of its reads is tens of ms of the scan worker, a page of up to 1 MB to send and for the browser to parse;
 * under the tight mount/umount loop over 5,000 mounts (issue #16) 10% meant 2–2.6 pages a second and another
 * user's keystroke echo p99 22–23 ms in two of three runs; at 2%, one page a second and 11.6–12.3 ms in three.
 * A person's own mounts still show at once (the burst); only a table that never stops changing waits.
 */
export const BIG_TABLE_EVENT_CPU_SHARE = 0.02;
export const BIG_TABLE_BYTES = 64 * 1024;
export const TABLE_EVENT_BURST_MS = 500;
export const TABLE_EVENT_MIN_GAP_MS = 20;
export const TABLE_EVENT_MAX_GAP_MS = 10_000;

/** `tasks last_pid` from /proc/loadavg, e.g. `187 23389`. */
export function procSignature(): string {
  try {
    return readProcFile('/proc/loadavg').toString('latin1').split(' ').slice(3).join(' ').split('/')[1] ?? '';
  } catch {
    return String(Math.random()); // Swallow: no loadavg means no cheap signal; fall back to scanning.
  }
}

/** USER_HZ: the unit of /proc/PID/stat's times; 100 on every architecture Linux runs Node on. */
const CLOCK_TICKS_PER_S = 100;

/**
 * CPU ms used so far by this process (all threads) and by its children that have been waited for — the
 * helpers it runs (mount, unshare, umount). process.cpuUsage() alone does not count children, so a scan that
 * started helpers would look free to ScanBudget. Children's time comes from /proc/self/stat's cutime and
 * cstime (fields 16 and 17), in clock ticks.
 */
export function cpuMsWithChildren(): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1000 + childrenCpuMs();
}

/** CPU ms of this process's children that have been waited for, in 10 ms steps; 0 where /proc is unreadable. */
export function childrenCpuMs(): number {
  try {
    const stat = readProcFile('/proc/self/stat').toString('latin1');
    // Fields after the command (which may hold spaces and parentheses) start at field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = ((Number(f[13]) + Number(f[14])) * 1000) / CLOCK_TICKS_PER_S;
    return Number.isFinite(ms) ? ms : 0;
  } catch {
    return 0; // Swallow: no /proc; the process's own time is still counted
  }
}

/** The window over which ScanBudget holds list scans to LIST_EVENT_CPU_SHARE. */
export const LIST_BUDGET_WINDOW_MS = 10_000;
/**
 * Share of one CPU list scans may use with process events, counted in CPU time (both threads). More than the
 * polling share: each scan here answers a real change, and a person working in the panes causes a burst of
 * them (unshare, mount, exit, nsenter within seconds). At 1% a loaded machine (the e2e run beside Chromium)
 * ran out after two scans and NPROCS lagged up to 3 s behind a pane's `nsenter`.
 */
export const LIST_EVENT_CPU_SHARE = 0.03;

/**
 * With process events, a scan follows the last one at least this much later: the events of one command come in
 * bursts (`docker run` is ten within a second: runc, its init, the shim, the exec), and one scan a little later
 * sees them all, where a scan for each spent the list's whole CPU budget and left the next container unlisted
 * for seconds. A person's `unshare` after a quiet moment is still scanned at once.
 */
export const LIST_EVENT_MIN_GAP_MS = 100;
/**
 * ...and, however much the scans of the window cost, never waits longer than this with process events. Scans
 * between full ones read only the processes events named (~5–15 ms of CPU on a loaded 2-core machine), so this
 * floor costs at most ~2% of a CPU under endless churn, and keeps a new container or `unshare` in a pane from
 * waiting for the budget for seconds (it was LIST_MAX_GAP_MS, 3 s, when every scan read every process).
 */
export const LIST_EVENT_MAX_GAP_MS = 750;

/**
 * When the next list scan may run, with process events: at once while the scans of the last window cost less
 * than the share of it — so the few scans a person's commands cause show up at once (`nsenter` into a namespace
 * and its NPROCS is 1 a few ms later) — and later under steady churn, when old scans leave the window; never
 * later than the max gap. The host's list uses LIST_EVENT_CPU_SHARE over LIST_BUDGET_WINDOW_MS, at most
 * LIST_EVENT_MAX_GAP_MS; a sandbox's own list (server/sandbox/live-list.ts) has budgets of its own.
 */
export class ScanBudget {
  private readonly spent: { at: number; cost: number }[] = [];

  constructor(
    private readonly share = LIST_EVENT_CPU_SHARE,
    private readonly windowMs = LIST_BUDGET_WINDOW_MS,
    private readonly maxGapMs = LIST_EVENT_MAX_GAP_MS,
  ) {}

  record(at: number, cost: number): void {
    this.spent.push({ at, cost });
    this.trim(at);
  }

  /** ms to wait before a scan that will cost about `next` ms */
  delay(now: number, next: number): number {
    this.trim(now);
    const budget = this.windowMs * this.share;
    let total = next;
    for (const e of this.spent) total += e.cost;
    if (total <= budget) return 0;
    for (const e of this.spent) {
      total -= e.cost;
      if (total <= budget) return Math.min(this.maxGapMs, Math.max(0, e.at + this.windowMs - now));
    }
    return this.maxGapMs;
  }

  private trim(now: number): void {
    while (this.spent.length > 0 && (this.spent[0] as { at: number }).at <= now - this.windowMs) this.spent.shift();
  }
}

/**
 * While someone watches a sandbox's list, the host's process events are handed on to it (watch.ts
 * onProcessActivity) at most this often: one wake-up per this many ms however busy the machine is (a wake-up
 * costs ~0.25 ms of CPU here, so at most ~1% of a CPU under endless churn), and a person's command, whose fork,
 * exec and exit come within a few ms, is seen by the second or third hand-on.
 */
export const ACTIVITY_MIN_GAP_MS = 25;
/**
 * A sandbox's own list scan reads only its own processes (its cgroup's: at most --sandbox-pids, 256 by
 * default, ~0.3 ms for a shell and a few commands), so it can follow its learner's commands at once where the
 * host's list, whose scans read every process and share one budget with all the machine's churn, waits up to
 * LIST_EVENT_MAX_GAP_MS (issue #14: 756 ms p95 in a sandbox). Each sandbox's scans may use this share of a CPU
 * over LIST_BUDGET_WINDOW_MS: a learner's fork loop slows only their own list…
 */
export const SANDBOX_LIST_CPU_SHARE = 0.01;
/**
 * …and all sandboxes' list scans together (and routing the events to them) at most this share: a room of
 * learners cannot make the server scan more than this for everyone, whatever they run. The host's own list keeps
 * its budget (LIST_EVENT_CPU_SHARE) untouched.
 */
export const SANDBOX_LISTS_CPU_SHARE = 0.03;
