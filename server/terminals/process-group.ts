// Ending a terminal's processes. node-pty makes the spawned program a session leader (setsid), and an
// interactive shell puts every job in a process group of its own, so signalling only `-leaderPid` would miss
// `sleep 1000 &` or a `nohup`ed job. We signal every process group of the session instead, found in /proc
// (field 6 of /proc/PID/stat is the session id, field 5 the process group). A process that calls setsid()
// itself leaves the session and is out of reach; that is the documented limit (a cgroup would be the fix).
import { setTimeout as sleep } from 'node:timers/promises';
import { listPids, readProcStat, type ProcStat } from '../proc/pids.js';

/** From SIGHUP (what a closed terminal sends) to SIGTERM: time for shells to save history and exit cleanly. */
export const HANGUP_GRACE_MS = 1000;
/** From SIGTERM to SIGKILL: a process that ignores both hangup and terminate gets this long, then no choice. */
export const TERMINATE_GRACE_MS = 1000;
/** After SIGKILL the kernel needs a moment to tear processes down; we wait this long before giving up. */
export const KILL_SETTLE_MS = 1000;
/** How often we look whether the processes are gone while waiting. */
const GONE_POLL_MS = 25;

/** The last full /proc scan; many sessions ending at once (shutdown) share it instead of each scanning. */
let lastScan: { at: number; processes: ProcStat[] } | undefined;

function scanProc(): ProcStat[] {
  const processes: ProcStat[] = [];
  let pids: number[] = [];
  try {
    pids = listPids();
  } catch {
    // Swallow: no /proc means nothing we could signal either; callers see no members.
  }
  for (const pid of pids) {
    const stat = readProcStat(pid);
    if (stat && stat.state !== 'Z') processes.push(stat);
  }
  lastScan = { at: Date.now(), processes };
  return processes;
}

/**
 * Live (non-zombie) processes of each of the given sessions, grouped by session id. `maxAgeMs` > 0 accepts a
 * scan that recent (for polling); signalling always uses a fresh one.
 */
export function sessionMembers(sessionIds: ReadonlySet<number>, maxAgeMs = 0): Map<number, ProcStat[]> {
  const processes = lastScan && maxAgeMs > 0 && Date.now() - lastScan.at <= maxAgeMs ? lastScan.processes : scanProc();
  const out = new Map<number, ProcStat[]>();
  for (const stat of processes) {
    if (!sessionIds.has(stat.session)) continue;
    const list = out.get(stat.session);
    if (list) list.push(stat);
    else out.set(stat.session, [stat]);
  }
  return out;
}

function signalGroups(members: Iterable<ProcStat>, signal: NodeJS.Signals): void {
  const groups = new Set<number>();
  for (const m of members) groups.add(m.pgrp);
  for (const pgrp of groups) {
    try {
      process.kill(-pgrp, signal);
    } catch {
      // Swallow: the group ended between the scan and the signal.
    }
  }
}

/**
 * SIGHUP → SIGTERM → SIGKILL to every process of the given sessions, each step only for what is still alive,
 * with the named timeouts between steps. Resolves with the session ids that still had processes at the end.
 */
export async function endSessions(sessionIds: Iterable<number>): Promise<number[]> {
  let remaining = new Set(sessionIds);
  const steps: Array<[NodeJS.Signals, number]> = [
    ['SIGHUP', HANGUP_GRACE_MS],
    ['SIGTERM', TERMINATE_GRACE_MS],
    ['SIGKILL', KILL_SETTLE_MS],
  ];
  for (const [signal, waitMs] of steps) {
    const members = sessionMembers(remaining);
    if (members.size === 0) return [];
    for (const list of members.values()) signalGroups(list, signal);
    remaining = await waitUntilGone(new Set(members.keys()), waitMs);
    if (remaining.size === 0) return [];
  }
  return [...remaining];
}

async function waitUntilGone(sessionIds: Set<number>, timeoutMs: number): Promise<Set<number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = new Set(sessionMembers(sessionIds, GONE_POLL_MS / 2).keys());
    if (alive.size === 0 || Date.now() >= deadline) return alive;
    await sleep(GONE_POLL_MS);
  }
}
