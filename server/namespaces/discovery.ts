// Namespaces of processes, from /proc: one readlink per /proc/PID/ns/<type>, grouped by inode, with lsns's
// facts (NPROCS, lowest PID, USER, COMMAND). The /proc reads themselves are server/proc/.
import { readFileSync, statSync } from 'node:fs';
import { nsId, type NsType, type ScanProblem } from '../../shared/api.js';
import { listPids } from '../proc/pids.js';
import { ERRNO_CODES, type FactsJobResult } from '../proc/scan-jobs.js';
import type { ScanPool } from '../proc/scan-pool.js';

// Readlinks are synchronous (3-5x faster than fs.promises, which pays a threadpool round trip per call) and
// split with a worker thread on busy machines (scan-pool.ts); either way a scan blocks the loop for a few ms.

export interface ProcessScan {
  /** namespace id → PIDs in it, ascending */
  members: Map<string, number[]>;
  /** processes that could not be read (EACCES: PID 1 on hardened machines); exited ones are just skipped */
  problems: ScanProblem[];
}

export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function scanProcesses(
  types: readonly NsType[],
  skipPids: ReadonlySet<number>,
  pool: ScanPool,
): Promise<ProcessScan> {
  const members = new Map<string, number[]>();
  const problems: ScanProblem[] = [];
  const pids = listPids().filter((pid) => !skipPids.has(pid));
  const inodes = await pool.inodes(pids, types);
  // One id string per namespace, not one per process: ids are built when an inode is first met per type.
  const idOf = types.map(() => new Map<number, string>());
  for (let i = 0; i < pids.length; i++) {
    const pid = pids[i] as number;
    for (let j = 0; j < types.length; j++) {
      const inode = inodes[i * types.length + j] as number;
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
