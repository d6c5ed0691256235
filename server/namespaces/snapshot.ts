// One consistent-enough picture of the machine's namespaces: the process scan, the nsfs binds of every
// readable mount namespace, and the Namespace rows built from both. Engine calls and watchers all start here.
import { NS_TYPES, nsIdInode, nsIdType, type Namespace, type NsType, type ScanProblem } from '../../shared/api.js';
import { factsOf, scanProcesses, type InodeCache, type ProcessFacts, type UserNames } from './discovery.js';
import type { ProcessDelta } from '../kernel/process-events.js';
import { nsfsPathsByNamespace, type NsfsBind, type PersistedScan, type PersistedScanner } from './persisted.js';
import type { MountNsAccess } from '../mounts/read.js';
import type { HelperPids } from '../proc/run.js';
import type { FactsJobResult } from '../proc/scan-jobs.js';
import type { ScanPool } from '../proc/scan-pool.js';
import { measured } from '../proc/scan-cost.js';

export interface Snapshot {
  /** rows of the requested types, sorted by inode then type (lsns's order) */
  namespaces: Namespace[];
  byId: Map<string, Namespace>;
  /** namespace id → PIDs in it, ascending (scanned types and mnt) */
  members: Map<string, number[]>;
  binds: NsfsBind[];
  /** mount namespaces without processes, reachable through nsfs binds */
  chains: Map<string, MountNsAccess>;
  problems: ScanProblem[];
  takenAt: number;
  /** what taking it cost in CPU ms, where it was metered (scan-cost.ts): the live list's scans are */
  cpuMs?: number;
}

export interface SnapshotDeps {
  selfIds: ReadonlyMap<NsType, string>;
  selfMnt: string;
  users: UserNames;
  persisted: PersistedScanner;
  helperPids: HelperPids;
  pool: ScanPool;
  /** each PID's namespaces as last read, for scans with a ProcessDelta */
  inodes?: InodeCache;
}

/** `delta`: see scanProcesses; only the live list passes one. */
export async function takeSnapshot(
  deps: SnapshotDeps,
  types: readonly NsType[] = NS_TYPES,
  delta?: ProcessDelta,
): Promise<Snapshot> {
  // Persisted namespaces are found through mount namespaces, so mnt is always scanned.
  const scanTypes = types.includes('mnt') ? types : [...types, 'mnt' as const];
  const { members, problems } = await scanProcesses(scanTypes, deps.helperPids, deps.pool, deps.inodes, delta);
  const mntMembers = new Map<string, number[]>();
  for (const [id, pids] of members) if (id.startsWith('mnt:')) mntMembers.set(id, pids);
  const wanted = new Set<string>(types);
  // USER and COMMAND of each row's lowest PID, read on both threads alongside the mount tables.
  const factPids = [
    ...new Set([...members].filter(([id]) => wanted.has(nsIdType(id))).map(([, pids]) => pids[0] as number)),
  ];
  const [persisted, factResults] = await Promise.all([
    deps.persisted.scan(mntMembers).catch((err: unknown): PersistedScan => {
      // Reported, not fatal: the rows are listed without their nsfs binds this time.
      problems.push({
        pid: 0,
        reason: `reading mount tables for nsfs binds failed: ${(err as Error).message ?? String(err)}`,
      });
      return { binds: [], access: new Map(), errors: new Map() };
    }),
    deps.pool.facts(factPids).catch((err: unknown) => {
      problems.push({
        pid: 0,
        reason: `reading owners and command lines failed: ${(err as Error).message ?? String(err)}`,
      });
      return factPids.map((): FactsJobResult => ({ error: 'EIO' }));
    }),
  ]);
  // Building the rows is part of the scan's cost, like the reads (scan-cost.ts).
  return measured(() => rowsOf(deps, types, members, problems, persisted, factPids, factResults));
}

function rowsOf(
  deps: SnapshotDeps,
  types: readonly NsType[],
  members: Map<string, number[]>,
  problems: ScanProblem[],
  persisted: PersistedScan,
  factPids: readonly number[],
  factResults: readonly FactsJobResult[],
): Snapshot {
  const wanted = new Set<string>(types);
  const nsfs = nsfsPathsByNamespace(persisted.binds, deps.selfMnt);
  const factsByPid = new Map<number, ProcessFacts>();
  factPids.forEach((pid, i) => factsByPid.set(pid, factsOf(pid, factResults[i] as FactsJobResult, deps.users)));

  const namespaces: Namespace[] = [];
  for (const [id, pids] of members) {
    const type = nsIdType(id);
    if (!wanted.has(type)) continue;
    const pid = pids[0] as number;
    const facts = factsByPid.get(pid) as ProcessFacts;
    const row: Namespace = {
      id,
      type,
      inode: Number(nsIdInode(id)),
      nprocs: pids.length,
      pid,
      user: facts.user,
      command: facts.command,
      nsfs: nsfs.get(id) ?? [],
      self: deps.selfIds.get(type) === id,
    };
    if (facts.commandTruncated) row.commandTruncated = true;
    const error = facts.error ?? persisted.errors.get(id);
    if (error) row.error = error;
    namespaces.push(row);
  }
  const seen = new Set(members.keys());
  for (const b of persisted.binds) {
    const type = nsIdType(b.nsId);
    if (seen.has(b.nsId) || !wanted.has(type)) continue;
    seen.add(b.nsId);
    const row: Namespace = {
      id: b.nsId,
      type,
      inode: Number(nsIdInode(b.nsId)),
      nprocs: 0,
      pid: null,
      user: null,
      command: null,
      nsfs: nsfs.get(b.nsId) ?? [],
      self: false,
    };
    const error = persisted.errors.get(b.nsId);
    if (error) row.error = error;
    namespaces.push(row);
  }
  boundCommands(namespaces);
  namespaces.sort((a, b) => a.inode - b.inode || NS_TYPES.indexOf(a.type) - NS_TYPES.indexOf(b.type));
  const byId = new Map(namespaces.map((n) => [n.id, n]));
  return { namespaces, byId, members, binds: persisted.binds, chains: persisted.access, problems, takenAt: Date.now() };
}

/**
 * Each command line is capped (COMMAND_MAX_BYTES), but thousands of namespaces of processes with long ones
 * still add up, and every row of a process repeats its command: above this many characters in all, every
 * command is cut to COMMAND_SHORT_CHARS so the list stays one reasonable message.
 */
const LIST_COMMANDS_MAX_CHARS = 2 * 1024 * 1024;
const COMMAND_SHORT_CHARS = 64;

function boundCommands(rows: Namespace[]): void {
  let total = 0;
  for (const r of rows) total += r.command?.length ?? 0;
  if (total <= LIST_COMMANDS_MAX_CHARS) return;
  for (const r of rows) {
    if (r.command === null || r.command.length <= COMMAND_SHORT_CHARS) continue;
    r.command = r.command.slice(0, COMMAND_SHORT_CHARS);
    r.commandTruncated = true;
  }
}
