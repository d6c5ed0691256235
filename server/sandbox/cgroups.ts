// Per-sandbox cgroups: a pids and a memory limit, on cgroup v1 (one hierarchy per controller, e.g. this
// machine's hybrid layout) and v2 (one unified hierarchy). Each sandbox gets a child of the server's own cgroup
// in each hierarchy; its processes join it before they run anything (scripts.ts IN_CGROUPS_SH).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = '/sys/fs/cgroup';

export interface CgroupLimits {
  pidsMax: number;
  memoryBytes: number;
}

export interface SandboxCgroups {
  /** `cgroup.procs` files a process writes itself into (one per hierarchy) */
  procsFiles: string[];
  /** which controllers enforce limits here, e.g. ['pids', 'memory'], and which could not (with why) */
  enforced: string[];
  missing: { controller: string; reason: string }[];
  /** PIDs still in any of the sandbox's cgroups */
  pids(): number[];
  /** removes the cgroup directories; false while a process is still in one (EBUSY) */
  remove(): boolean;
}

interface Hierarchy {
  version: 1 | 2;
  /** the controller it is used for ('pids', 'memory'); v2 serves both */
  controllers: string[];
  /** the server's own cgroup directory in this hierarchy */
  dir: string;
}

/** The server's cgroup per hierarchy, from /proc/self/cgroup ("ID:CONTROLLERS:PATH"). */
function hierarchies(): { v1: Map<string, string>; v2: string | null } {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , controllers, rel] = m as unknown as [string, string, string, string];
    if (controllers === '') v2 = rel;
    else for (const c of controllers.split(',')) v1.set(c, rel);
  }
  return { v1, v2 };
}

/** What this kernel and mount layout offers, for logs and the README: v1 controllers mounted, or v2's. */
export function describeCgroups(): string {
  const { v1 } = hierarchies();
  const v1Mounted = [...v1.keys()].filter((c) => existsSync(path.join(ROOT, c, 'cgroup.procs')));
  if (v1Mounted.length > 0) return `cgroup v1 (hybrid): ${v1Mounted.join(', ')}`;
  try {
    return `cgroup v2: ${readFileSync(path.join(ROOT, 'cgroup.controllers'), 'utf8').trim()}`;
  } catch {
    return 'no cgroup hierarchy mounted at /sys/fs/cgroup';
  }
}

function pick(): { found: Hierarchy[]; missing: { controller: string; reason: string }[] } {
  const { v1, v2 } = hierarchies();
  const found: Hierarchy[] = [];
  const missing: { controller: string; reason: string }[] = [];
  const want = ['pids', 'memory'];
  const v2Left: string[] = [];
  for (const c of want) {
    const rel = v1.get(c);
    const dir = rel === undefined ? null : path.join(ROOT, c, rel);
    if (dir && existsSync(path.join(dir, 'cgroup.procs'))) found.push({ version: 1, controllers: [c], dir });
    else v2Left.push(c);
  }
  if (v2Left.length > 0) {
    const dir =
      v2 === null
        ? null
        : path.join(existsSync(path.join(ROOT, 'cgroup.controllers')) ? ROOT : path.join(ROOT, 'unified'), v2);
    let available: string[] = [];
    try {
      if (dir) available = readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    } catch {
      available = []; // Swallow: no v2 hierarchy; each controller is reported missing below
    }
    const usable = v2Left.filter((c) => available.includes(c));
    for (const c of v2Left.filter((x) => !usable.includes(x)))
      missing.push({
        controller: c,
        reason: `the ${c} controller is not mounted (v1) nor available in the server's v2 cgroup`,
      });
    if (dir && usable.length > 0) found.push({ version: 2, controllers: usable, dir });
  }
  return { found, missing };
}

function write(file: string, value: string): void {
  writeFileSync(file, value);
}

/** A sandbox's cgroup directory name: the server's PID in it tells a dead server's leftovers from a live one's. */
const PREFIX = 'nsconsole-sandbox-';
const dirName = (id: string): string => `${PREFIX}${process.pid}-${id}`;

/** Creates `nsconsole-sandbox-<server pid>-<id>` under the server's cgroup in each hierarchy, with the limits. */
export function createCgroups(id: string, limits: CgroupLimits): SandboxCgroups {
  const { found, missing } = pick();
  const dirs: string[] = [];
  const enforced: string[] = [];
  for (const h of found) {
    const dir = path.join(h.dir, dirName(id));
    try {
      if (h.version === 2) {
        // A child gets a controller only if its parent delegates it. Refused (EBUSY) when the server's cgroup
        // holds processes itself (v2's "no internal processes" rule): then the limit is reported missing.
        write(path.join(h.dir, 'cgroup.subtree_control'), h.controllers.map((c) => `+${c}`).join(' '));
      }
      mkdirSync(dir);
      dirs.push(dir);
      for (const c of h.controllers) {
        if (c === 'pids') write(path.join(dir, 'pids.max'), String(limits.pidsMax));
        if (c === 'memory') {
          if (h.version === 1) {
            write(path.join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
            setSwapLimitV1(dir, limits.memoryBytes);
          } else {
            write(path.join(dir, 'memory.max'), String(limits.memoryBytes));
            // memory.swap.max exists only with swap accounting; without it there is no swap to escape to
            if (existsSync(path.join(dir, 'memory.swap.max'))) write(path.join(dir, 'memory.swap.max'), '0');
          }
        }
        enforced.push(c);
      }
    } catch (err) {
      for (const c of h.controllers)
        missing.push({
          controller: c,
          reason: `cannot set up cgroup v${h.version} ${c} under ${h.dir}: ${(err as Error).message}`,
        });
    }
  }
  const procsFiles = dirs.map((d) => path.join(d, 'cgroup.procs'));
  return {
    procsFiles,
    enforced,
    missing,
    pids() {
      const pids = new Set<number>();
      for (const file of procsFiles) {
        try {
          for (const line of readFileSync(file, 'utf8').split('\n')) if (line) pids.add(Number(line));
        } catch {
          // Swallow: already removed; it holds nothing
        }
      }
      return [...pids];
    },
    remove() {
      let all = true;
      for (const dir of [...dirs].reverse()) {
        try {
          rmdirSync(dir);
          dirs.splice(dirs.indexOf(dir), 1);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') dirs.splice(dirs.indexOf(dir), 1);
          else all = false; // EBUSY: a process is still leaving; the caller retries
        }
      }
      return all;
    },
  };
}

/** v1: memory+swap limited to the same figure, when swap accounting is on (memory.memsw.*). */
function setSwapLimitV1(dir: string, bytes: number): void {
  const file = path.join(dir, 'memory.memsw.limit_in_bytes');
  if (existsSync(file)) write(file, String(bytes));
}

/**
 * Sandbox cgroups under the server's own: this process's (none once every sandbox is destroyed: tests prove
 * nothing is left), or every server's with `all`.
 */
export function sandboxCgroupDirs(all = false): string[] {
  const mine = `${PREFIX}${process.pid}-`;
  const out: string[] = [];
  for (const h of pick().found) {
    try {
      for (const name of readdirSync(h.dir)) if (name.startsWith(all ? PREFIX : mine)) out.push(path.join(h.dir, name));
    } catch {
      // Swallow: an unreadable hierarchy has none of ours
    }
  }
  return out;
}

/**
 * Cgroups of sandboxes whose server is gone (it was killed: its sandboxes died with it, see sandbox.ts): any
 * process still in one is killed, and the empty directories removed. Another live server's are left alone.
 */
export function removeDeadServersCgroups(): string[] {
  const removed: string[] = [];
  for (const dir of sandboxCgroupDirs(true)) {
    const owner = Number(/^nsconsole-sandbox-(\d+)-/.exec(path.basename(dir))?.[1]);
    if (!owner || owner === process.pid || existsSync(`/proc/${owner}`)) continue;
    try {
      for (const line of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n'))
        if (line) process.kill(Number(line), 'SIGKILL');
      rmdirSync(dir);
      removed.push(dir);
    } catch {
      // Swallow: a process still leaving (EBUSY) or already removed; the next server start tries again
    }
  }
  return removed;
}

/** The id of this server's sandbox whose cgroup a `/proc/PID/cgroup` text names (or one below it), or null. */
export function sandboxIdInCgroupText(text: string): string | null {
  const mine = `/${PREFIX}${process.pid}-`;
  const at = text.indexOf(mine);
  if (at < 0) return null;
  const rest = text.slice(at + mine.length);
  const end = rest.search(/[/\n]/);
  return end < 0 ? rest : rest.slice(0, end);
}
