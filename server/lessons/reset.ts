// "Reset lesson": undo what a lesson made, all of it inside its workspace or in namespaces it created:
//  1. end the processes in those namespaces (persisted under the workspace, or entered by a pane's foreground
//     process and holding only processes of the panes, see lessonNamespaces) — never a pane's shell, never the
//     server's own namespaces;
//  2. unmount every mount (nsfs binds included) at or under the workspace, deepest and newest first;
//  3. once no mount is left under it, delete what is in the workspace.
// With --sandbox all of it happens in the sandbox the lesson runs in (ResetPlace, sandbox-reset.ts).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { NS_TYPES, type Mount, type Namespace } from '../../shared/api.js';
import type { LessonResetResult } from '../../shared/lessons.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import { readProcStat } from '../proc/pids.js';
import { nsOfPid } from './facts.js';

const run = promisify(execFile);

/** SIGKILLed processes are reaped by their parents; wait this long at most for them to leave /proc. */
const KILL_WAIT_MS = 2000;
const KILL_POLL_MS = 20;
/** A stack of mounts on one path needs one umount each; more than this under one workspace is a runaway. */
const MAX_UNMOUNTS = 200;
/** Walking up the parent chain stops here (a chain is never this long; it guards against a PID-reuse loop). */
const MAX_TREE_DEPTH = 4096;

export interface ResetInput {
  work: string;
  namespaces: readonly Namespace[];
  /** pane shells: their PIDs are never ended, and their own namespaces are not "made by the lesson" */
  paneLeaders: number[];
  /** every terminal session's shell: never ended, whatever namespace it is in */
  shells: number[];
  /** the panes' foreground processes now */
  paneForeground: number[];
  selfIds: Set<string>;
  /**
   * --sandbox: the lesson lives in a sandbox, so the reset does too (sandbox-reset.ts): only its processes are
   * ended, its mount table is read, and every umount and delete runs inside it as its root — never on the host.
   */
  inside?: ResetPlace;
}

/** Where a reset unmounts and deletes: the server's own mount namespace (the host), or a sandbox. */
export interface ResetPlace {
  /** may this process be ended (is it in the place)? */
  owns(pid: number): boolean;
  mountinfo(): string;
  /** unmounts one layer per target, in order; what it unmounted, and why others failed */
  unmount(targets: string[]): Promise<{ done: string[]; problems: string[] }>;
  /** deletes what is in `dir` (never across a mount) */
  empty(dir: string): Promise<{ removed: string[]; problems: string[] }>;
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir + '/');

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return '?'; // Swallow: it exited as we looked.
  }
}

interface Proc {
  pid: number;
  ppid: number;
  /** namespace id per type */
  ns: Map<string, string>;
}

/** Every process with its parent and namespaces, read once. */
function scanProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = readProcStat(pid);
    if (!stat) continue;
    const ns = new Map<string, string>();
    for (const t of NS_TYPES) {
      const id = nsOfPid(pid, t);
      if (id) ns.set(t, id);
    }
    out.push({ pid, ppid: stat.ppid, ns });
  }
  return out;
}

/**
 * The namespaces the lesson made: those persisted under its workspace, and those a pane's foreground process
 * entered (differing from the pane shell's own) whose every process descends from a pane shell — so a shell
 * that `nsenter`ed a container's namespaces never gets the container's processes ended.
 */
function lessonNamespaces(input: ResetInput, procs: Proc[], problems: string[]): Set<string> {
  const made = new Set<string>();
  for (const ns of input.namespaces) if (ns.nsfs.some((p) => under(p, input.work))) made.add(ns.id);
  const parent = new Map(procs.map((p) => [p.pid, p.ppid]));
  const leaders = new Set(input.paneLeaders);
  const inPanes = (pid: number) => {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < MAX_TREE_DEPTH; p = parent.get(p), hops++) if (leaders.has(p)) return true;
    return false;
  };
  const leaderIds = new Set<string>();
  for (const pid of input.paneLeaders) for (const t of NS_TYPES) leaderIds.add(nsOfPid(pid, t) ?? '');
  for (const pid of input.paneForeground) {
    for (const t of NS_TYPES) {
      const id = nsOfPid(pid, t);
      if (!id || leaderIds.has(id) || input.selfIds.has(id) || made.has(id)) continue;
      const stranger = procs.find((p) => p.ns.get(t) === id && !inPanes(p.pid));
      if (stranger) problems.push(`left ${id} alone: process ${stranger.pid} (${comm(stranger.pid)}) outside the panes is in it too`);
      else made.add(id);
    }
  }
  for (const id of input.selfIds) made.delete(id);
  for (const id of leaderIds) made.delete(id);
  return made;
}

async function endProcesses(
  made: Set<string>,
  procs: Proc[],
  keep: Set<number>,
  owns: (pid: number) => boolean,
): Promise<{ pid: number; command: string }[]> {
  const victims: { pid: number; command: string }[] = [];
  for (const p of procs) {
    if (keep.has(p.pid) || p.pid === process.pid || !owns(p.pid)) continue;
    if (![...p.ns.values()].some((id) => made.has(id))) continue;
    const command = comm(p.pid);
    try {
      process.kill(p.pid, 'SIGKILL');
      victims.push({ pid: p.pid, command });
    } catch {
      // Swallow: it exited between the scan and the kill, which is what we wanted.
    }
  }
  const deadline = Date.now() + KILL_WAIT_MS;
  const alive = () => victims.filter((v) => readProcStat(v.pid) !== null && readProcStat(v.pid)?.state !== 'Z');
  while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, KILL_POLL_MS));
  return victims;
}

/**
 * Mounts at or under `work` that a path lookup can reach. A mount whose mountpoint lies below another mount made
 * later on the same parent is covered: umount of its path reaches the cover instead. A sandbox's table holds such
 * mounts (the host's, copied at its creation, under the sandbox's own /tmp), and they are not the lesson's.
 */
function mountsUnder(place: ResetPlace, work: string) {
  const all = parseMountinfo(place.mountinfo());
  const byId = new Map(all.map((m) => [m.id, m]));
  const covered = (m: Mount) =>
    all.some((x) => x !== m && x.parentId === m.parentId && x.target !== m.target && under(m.target, x.target));
  const reachable = (m: Mount): boolean => {
    for (let cur: Mount | undefined = m, hops = 0; cur && hops < MAX_TREE_DEPTH; cur = byId.get(cur.parentId), hops++)
      if (covered(cur)) return false;
    return true;
  };
  return all.filter((m) => under(m.target, work) && reachable(m));
}

/** Unmounts everything at or under `work`, deepest and newest first; what it unmounted goes into `out`. */
async function unmountAll(place: ResetPlace, work: string, out: string[], problems: string[]): Promise<void> {
  for (let i = 0; i < MAX_UNMOUNTS; i++) {
    const left = mountsUnder(place, work);
    if (left.length === 0) return;
    // Deepest first; on one path, the newest (highest id) is the one on top.
    left.sort((a, b) => b.target.split('/').length - a.target.split('/').length || b.id - a.id);
    const top = left[0] as (typeof left)[number];
    const { done, problems: failed } = await place.unmount([top.target]);
    out.push(...done);
    if (failed.length > 0) {
      problems.push(...failed);
      return;
    }
  }
}

/** Deletes what is in `work` once no mount is under it (a delete must never reach through a mount). */
async function deleteFiles(place: ResetPlace, work: string, out: string[]): Promise<string[]> {
  if (mountsUnder(place, work).length > 0) return [`${work} still has mounts under it; its files were left alone`];
  const { removed, problems } = await place.empty(work);
  out.push(...removed);
  return problems;
}

/** The server's own mount namespace: umount(8) and rm here, as the server. */
const HOST: ResetPlace = {
  owns: () => true,
  mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8'),
  async unmount(targets) {
    const done: string[] = [];
    const problems: string[] = [];
    for (const t of targets) {
      try {
        await run('umount', ['--lazy', '--', t]);
        done.push(t);
      } catch (e) {
        problems.push(`umount ${t}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
      }
    }
    return { done, problems };
  },
  async empty(work) {
    const removed: string[] = [];
    const problems: string[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(work);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`cannot list ${work}: ${(e as Error).message}`);
    }
    for (const name of names) {
      try {
        rmSync(`${work}/${name}`, { recursive: true, force: true });
        removed.push(`${work}/${name}`);
      } catch (e) {
        problems.push(`cannot delete ${work}/${name}: ${(e as Error).message}`);
      }
    }
    return { removed, problems };
  },
};

/** A process still setting up a namespace can add a mount after the first sweep (EBUSY on delete): sweep again. */
const SWEEPS = 3;

export async function resetWorkspace(input: ResetInput): Promise<Omit<LessonResetResult, 'progress'>> {
  const place = input.inside ?? HOST;
  const keep = new Set([...input.paneLeaders, ...input.shells]);
  const procs = scanProcs();
  const notes: string[] = [];
  const processes = await endProcesses(lessonNamespaces(input, procs, notes), procs, keep, (pid) => place.owns(pid));
  const mounts: string[] = [];
  const files: string[] = [];
  let problems: string[] = [];
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    problems = [];
    await unmountAll(place, input.work, mounts, problems);
    problems.push(...(await deleteFiles(place, input.work, files)));
    if (problems.length === 0) break;
  }
  return { removed: { processes, mounts: [...new Set(mounts)], files: [...new Set(files)] }, problems: [...notes, ...problems] };
}
