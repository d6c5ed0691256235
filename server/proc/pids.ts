// Processes, from /proc: which PIDs exist and what /proc/PID/stat says about one. Like lsns we look at
// processes (/proc/PID), not threads (/proc/PID/task/TID).
import { readdirSync, readFileSync } from 'node:fs';

/**
 * How many PIDs of a namespace to try, one after the other, before giving up on it: a PID listed by a scan can
 * exit or move to another namespace before it is used, and a namespace whose processes keep doing that is
 * skipped this time rather than chased (it is looked at again by the next scan).
 */
export const MAX_PID_ATTEMPTS = 8;

/** Numeric /proc entries (processes), ascending. Throws when /proc cannot be listed. */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}

export interface ProcStat {
  pid: number;
  /** one-letter state; Z = zombie (already dead, waiting to be reaped) */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** foreground process group of the controlling terminal, or -1 */
  tpgid: number;
  /** clock ticks since boot: together with the pid, identifies a process across pid reuse */
  startTime: number;
}

/** Parses /proc/PID/stat; the command (field 2) may contain spaces and parentheses, so fields count from the last ')'. */
export function parseProcStat(pid: number, text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close === -1) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field N is f[N - 3].
  const num = (field: number) => Number(f[field - 3]);
  if (f.length < 20) return null;
  return { pid, state: f[0] as string, ppid: num(4), pgrp: num(5), session: num(6), tpgid: num(8), startTime: num(22) };
}

/** /proc/PID/stat, parsed; null when the process is gone. */
export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // Swallow: the process is gone (ENOENT/ESRCH) — that is an answer, not an error.
  }
}
