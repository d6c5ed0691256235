// "Reset lesson": undo what a lesson made, all of it inside its workspace or in namespaces it created:
//  1. end the processes in those namespaces (persisted under the workspace, or entered by a pane's foreground
//     process: its namespaces that differ from the pane shell's own) — never a pane's shell, never the server's
//     own namespaces;
//  2. unmount every mount (nsfs binds included) at or under the workspace, deepest and newest first;
//  3. once no mount is left under it, delete what is in the workspace.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { NS_TYPES, type Namespace } from '../../shared/api.js';
import type { LessonResetResult } from '../../shared/lessons.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import { nsOfPid } from './facts.js';

const run = promisify(execFile);

/** SIGKILLed processes are reaped by their parents; wait this long at most for them to leave /proc. */
const KILL_WAIT_MS = 2000;
const KILL_POLL_MS = 20;
/** A stack of mounts on one path needs one umount each; more than this under one workspace is a runaway. */
const MAX_UNMOUNTS = 200;

export interface ResetInput {
  work: string;
  namespaces: readonly Namespace[];
  /** pane shells: their PIDs are never ended, and their own namespaces are not "made by the lesson" */
  paneLeaders: number[];
  /** the panes' foreground processes now */
  paneForeground: number[];
  selfIds: Set<string>;
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir + '/');

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return '?'; // Swallow: it exited as we looked.
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function lessonNamespaces(input: ResetInput): Set<string> {
  const made = new Set<string>();
  for (const ns of input.namespaces) if (ns.nsfs.some((p) => under(p, input.work))) made.add(ns.id);
  const leaderIds = new Set<string>();
  for (const pid of input.paneLeaders) for (const t of NS_TYPES) leaderIds.add(nsOfPid(pid, t) ?? '');
  for (const pid of input.paneForeground) {
    for (const t of NS_TYPES) {
      const id = nsOfPid(pid, t);
      if (id && !leaderIds.has(id)) made.add(id);
    }
  }
  for (const id of input.selfIds) made.delete(id);
  for (const id of leaderIds) made.delete(id);
  return made;
}

async function endProcesses(made: Set<string>, keep: Set<number>): Promise<{ pid: number; command: string }[]> {
  if (made.size === 0) return [];
  const types = [...new Set([...made].map((id) => id.split(':')[0]))] as (typeof NS_TYPES)[number][];
  const victims: { pid: number; command: string }[] = [];
  for (const pid of allPids()) {
    if (keep.has(pid) || pid === process.pid) continue;
    if (!types.some((t) => made.has(nsOfPid(pid, t) ?? ''))) continue;
    const command = comm(pid);
    try {
      process.kill(pid, 'SIGKILL');
      victims.push({ pid, command });
    } catch {
      // Swallow: it exited between the scan and the kill, which is what we wanted.
    }
  }
  const deadline = Date.now() + KILL_WAIT_MS;
  const alive = () => victims.filter((v) => nsOfPid(v.pid, types[0] as 'mnt') !== null);
  while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, KILL_POLL_MS));
  return victims;
}

function mountsUnder(work: string) {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => under(m.target, work));
}

export async function resetWorkspace(input: ResetInput): Promise<Omit<LessonResetResult, 'progress'>> {
  const problems: string[] = [];
  const keep = new Set(input.paneLeaders);
  const processes = await endProcesses(lessonNamespaces(input), keep);

  const mounts: string[] = [];
  for (let i = 0; i < MAX_UNMOUNTS; i++) {
    const left = mountsUnder(input.work);
    if (left.length === 0) break;
    // Deepest first; on one path, the newest (highest id) is the one on top.
    left.sort((a, b) => b.target.split('/').length - a.target.split('/').length || b.id - a.id);
    const top = left[0] as (typeof left)[number];
    try {
      await run('umount', ['--lazy', '--', top.target]);
      mounts.push(top.target);
    } catch (e) {
      problems.push(`umount ${top.target}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
      break;
    }
  }

  const files: string[] = [];
  if (mountsUnder(input.work).length > 0) {
    problems.push(`${input.work} still has mounts under it; its files were left alone`);
  } else {
    let names: string[] = [];
    try {
      names = readdirSync(input.work);
    } catch (e) {
      problems.push(`cannot list ${input.work}: ${(e as Error).message}`);
    }
    for (const name of names) {
      try {
        rmSync(`${input.work}/${name}`, { recursive: true, force: true });
        files.push(`${input.work}/${name}`);
      } catch (e) {
        problems.push(`cannot delete ${input.work}/${name}: ${(e as Error).message}`);
      }
    }
  }
  return { removed: { processes, mounts: [...new Set(mounts)], files }, problems };
}
