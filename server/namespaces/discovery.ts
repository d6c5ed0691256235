// Namespaces of processes, from /proc: one readlink per /proc/PID/ns/<type>, grouped by inode, with lsns's
// facts (NPROCS, lowest PID, USER, COMMAND). The /proc reads themselves are server/proc/.
import { readFileSync, statSync } from 'node:fs';
import { nsId, NS_TYPES, type NsType, type ScanProblem } from '../../shared/api.js';
import type { ProcessDelta } from '../kernel/process-events.js';
import { listPids } from '../proc/pids.js';
import { ERRNO_CODES, type FactsJobResult } from '../proc/scan-jobs.js';
import type { ScanPool } from '../proc/scan-pool.js';
import { measured } from '../proc/scan-cost.js';

// Readlinks are synchronous (3-5x faster than fs.promises, which pays a threadpool round trip per call) and
// split with a worker thread on busy machines (scan-pool.ts); either way a scan blocks the loop for a few ms.

export interface ProcessScan {
  /** namespace id → PIDs in it, ascending */
  members: Map<string, number[]>;
  /** processes that could not be read (EACCES: PID 1 on hardened machines); exited ones are just skipped */
  problems: ScanProblem[];
}

export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Each PID's namespace inodes from the last full-type scan, to read again only the PIDs the kernel said
 * something about (ProcessDelta): with 50 containers a scan was ~2,000 readlinks, and `docker run` causes ten
 * scans within a second, which spent the list's CPU budget and left a new container unlisted for seconds.
 */
export class InodeCache {
  private byPid = new Map<number, number[]>();
  /** when the scan these came from started (performance.now()) */
  private startedAt = -Infinity;

  /** The cached inodes usable with `delta`: null when they are older than what the delta covers. */
  usable(delta: ProcessDelta | undefined): { byPid: ReadonlyMap<number, number[]>; dirty: ReadonlySet<number> } | null {
    if (!delta?.pids || this.startedAt < delta.since) return null;
    return { byPid: this.byPid, dirty: delta.pids };
  }

  /** Keep a scan's reads, unless one that started later is already kept. */
  store(startedAt: number, byPid: Map<number, number[]>): void {
    if (startedAt < this.startedAt) return;
    this.startedAt = startedAt;
    this.byPid = byPid;
  }
}

/**
 * `cache` and `delta` (process-event mode, all types): PIDs the delta does not name keep their cached inodes;
 * others are read. Without them, or when the cache is older than the delta, every PID is read.
 */
export async function scanProcesses(
  types: readonly NsType[],
  skipPids: ReadonlySet<number>,
  pool: ScanPool,
  cache?: InodeCache,
  delta?: ProcessDelta,
): Promise<ProcessScan> {
  const startedAt = performance.now();
  const members = new Map<string, number[]>();
  const problems: ScanProblem[] = [];
  const pids = measured(() => listPids().filter((pid) => !skipPids.has(pid)));
  const allTypes = cache !== undefined && types.length === NS_TYPES.length && types.every((t, i) => NS_TYPES[i] === t);
  const cached = allTypes ? cache.usable(delta) : null;
  const toRead = cached ? pids.filter((pid) => cached.dirty.has(pid) || !cached.byPid.has(pid)) : pids;
  const read = await pool.inodes(toRead, types);
  // Grouping what was read (on the main thread) is part of the scan's cost, like the reads (scan-cost.ts).
  return measured(() => {
    const byPid = new Map<number, number[]>();
    for (let k = 0; k < toRead.length; k++)
      byPid.set(toRead[k] as number, read.slice(k * types.length, (k + 1) * types.length));
    if (cached) for (const pid of pids) if (!byPid.has(pid)) byPid.set(pid, cached.byPid.get(pid) as number[]);
    if (allTypes) cache.store(startedAt, byPid);
    // One id string per namespace, not one per process: ids are built when an inode is first met per type.
    const idOf = types.map(() => new Map<number, string>());
    for (const pid of pids) {
      const inodes = byPid.get(pid) as number[];
      for (let j = 0; j < types.length; j++) {
        const inode = inodes[j] as number;
        const type = types[j] as NsType;
        if (inode < 0) {
          const code = ERRNO_CODES[-inode] ?? 'EIO';
          // Exited mid-scan: it is simply not there any more. Anything else (EACCES: PID 1 here) is reported once.
          if (code !== 'ENOENT' && code !== 'ESRCH')
            problems.push({ pid, reason: `${code} reading /proc/${pid}/ns/${type}` });
          break;
        }
        if (inode === 0) continue;
        const ids = idOf[j] as Map<number, string>;
        let id = ids.get(inode);
        if (id === undefined) ids.set(inode, (id = nsId(type, inode)));
        const list = members.get(id);
        if (list) list.push(pid);
        else members.set(id, [pid]);
      }
    }
    return { members, problems };
  });
}

export interface ProcessFacts {
  user: string | null;
  command: string | null;
  /** the command line was longer than COMMAND_MAX_BYTES */
  commandTruncated?: boolean;
  error?: string;
}

/**
 * The row's facts from what readFactsJob read (on either thread). lsns's USER is the owner of /proc/PID; its
 * COMMAND the command line, or the kernel thread's name.
 */
export function factsOf(pid: number, r: FactsJobResult, users: UserNames): ProcessFacts {
  if ('error' in r)
    return { user: null, command: null, error: `PID ${pid}: ${r.error} reading its owner and command line` };
  const facts: ProcessFacts = { user: users.name(r.uid), command: r.command };
  if (r.commandTruncated) facts.commandTruncated = true;
  return facts;
}

/** uid → name from /etc/passwd, re-read only when the file changes. */
export class UserNames {
  private names = new Map<number, string>();
  private mtimeMs = -1;

  constructor(private readonly passwdPath = '/etc/passwd') {}

  name(uid: number): string {
    this.refresh();
    return this.names.get(uid) ?? String(uid);
  }

  private refresh(): void {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.passwdPath).mtimeMs;
    } catch {
      // Swallow: without a passwd file every user is shown by number, as lsns does.
      this.names.clear();
      return;
    }
    if (mtimeMs === this.mtimeMs) return;
    this.mtimeMs = mtimeMs;
    this.names = parsePasswd(readFileSync(this.passwdPath, 'utf8'));
  }
}

export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = Number(f[2]);
    // The first entry for a uid wins, as getpwuid(3) does.
    if (f[0] && Number.isInteger(uid) && !names.has(uid)) names.set(uid, f[0]);
  }
  return names;
}
