// "Where is this shell now?": the mount namespace of the terminal's foreground process, so a pane header can
// follow the user into `unshare --mount` or `nsenter` and back out again.
//
// Synchronous on purpose: procfs is generated from kernel memory and never waits on a disk, so a sync read costs
// a few microseconds, while fs/promises' open/fstat/read/close round trips through the thread pool cost ~10×
// that in main-thread work — measured as the top item of a 100-session profile.
import { readFileSync, readlinkSync } from 'node:fs';
import type { WhereInfo } from '../../shared/protocol.js';
import { nsIdOfLink } from '../proc/ns-links.js';
import { parseProcStat } from '../proc/pids.js';

function describe(pid: number): WhereInfo | null {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8');
    return { pid, command: comm.trimEnd(), mnt: nsIdOfLink(readlinkSync(`/proc/${pid}/ns/mnt`)) };
  } catch {
    return null; // Swallow: the process ended while we looked; the caller falls back or tries next time.
  }
}

/**
 * The foreground process group of the terminal whose session leader is `leaderPid` (field 8 of its stat, the
 * same for every process on that terminal), described by its leader; the session leader itself when there is
 * no foreground group or it cannot be read. Null once the leader is gone.
 */
export function readWhere(leaderPid: number): WhereInfo | null {
  let stat;
  try {
    stat = parseProcStat(leaderPid, readFileSync(`/proc/${leaderPid}/stat`, 'utf8'));
  } catch {
    return null; // Swallow: the shell has exited.
  }
  if (stat && stat.tpgid > 0 && stat.tpgid !== leaderPid) {
    const foreground = describe(stat.tpgid);
    if (foreground) return foreground;
  }
  return describe(leaderPid);
}

export function sameWhere(a: WhereInfo | null, b: WhereInfo | null): boolean {
  return a === b || (a !== null && b !== null && a.pid === b.pid && a.command === b.command && a.mnt === b.mnt);
}

/** How often the foreground process is looked up for the pane header, while someone is watching. */
export const WHERE_POLL_MS = 300;
/** Without pty activity, only every this-many-th poll looks (a job can still end silently, e.g. `sleep 5`). */
const WHERE_IDLE_POLL_EVERY = 5;

/**
 * Polls a terminal's "where" while clients watch and reports changes. The foreground process only changes when
 * the user runs or ends a command, which always comes with pty input or output, so an idle terminal is looked
 * at only every WHERE_IDLE_POLL_EVERY-th tick.
 */
export class WhereWatcher {
  private current: WhereInfo | null = null;
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private active = false;

  constructor(
    private readonly leaderPid: number,
    private readonly onChange: (where: WhereInfo) => void,
  ) {}

  get where(): WhereInfo | null {
    return this.current;
  }

  noteActivity(): void {
    this.active = true;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(false), WHERE_POLL_MS);
    this.poll(true);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private poll(force: boolean): void {
    this.ticks++;
    if (!force && !this.active && this.ticks % WHERE_IDLE_POLL_EVERY !== 0) return;
    this.active = false;
    const where = readWhere(this.leaderPid);
    if (!where || sameWhere(where, this.current)) return;
    this.current = where;
    this.onChange(where);
  }
}
