// One sandbox: a user namespace whose root is an unprivileged host uid range, with its own mount, PID, UTS,
// IPC, cgroup and network namespaces, held by a small init (its pid 1) and limited by its own cgroups.
//
// Mechanism (no newuidmap, no /etc/subuid): `unshare` runs as the range's first host uid, so it can create the
// user namespace (unprivileged user namespaces) and owns it; the server, root outside, then writes the whole
// range into uid_map/gid_map (a writer with CAP_SETUID/CAP_SETGID in the parent may map any ids). The init
// (scripts.ts INIT_PL) keeps the namespace's capabilities across its exec (unshare --keep-caps), waits on its stdin
// for the maps, then sets the sandbox up itself (mounts, hostname, loopback) in one process and says so on its
// stdout. Sessions and later programs enter the init's namespaces by verified fds (terminals/entry.ts) — nsenter
// becomes uid 0 inside, i.e. the range's first uid outside.
// If the server dies, so does the sandbox: unshare has a parent-death SIGKILL (setpriv --pdeathsig) and kills its
// init in turn (--kill-child), which takes the PID namespace down; the next server removes the empty cgroups.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { NS_TYPES, type NsType } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { planProcessEntry, type EntryPlan } from '../terminals/entry.js';
import { findNsenter } from '../terminals/launch.js';
import { readProcStat } from '../proc/pids.js';
import { createCgroups, type SandboxCgroups } from './cgroups.js';
import { poll } from './poll.js';
import { IN_CGROUPS_SH, INIT_GO, INIT_PL, INIT_READY, INIT_STARTED } from './scripts.js';

export interface SandboxLimits {
  pidsMax: number;
  memoryBytes: number;
  diskBytes: number;
  /** the cgroup controllers that enforce pidsMax / memoryBytes here */
  enforced: string[];
  /** limits that could not be set, with why (e.g. a v2 cgroup that cannot delegate) */
  missing?: { controller: string; reason: string }[];
}

export interface SandboxOptions {
  id: string;
  uidBase: number;
  uidCount: number;
  limits: { pidsMax: number; memoryBytes: number; diskBytes: number };
}

/** A new sandbox is usable within this long; a healthy one takes ~50-150 ms (test/bench/sandbox.bench.ts). */
const START_DEADLINE_MS = 10_000;
/** How long destroy waits for the kernel to take its processes down after SIGKILL. */
const DESTROY_DEADLINE_MS = 5000;
/** How long the processes outside its PID namespace get to reap their children and exit before they are killed. */
const REAP_GRACE_MS = 1000;

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class Sandbox {
  readonly hostname: string;
  /** namespace id per type of the init: the sandbox's "outside" */
  readonly nsIds = new Map<NsType, string>();
  private destroyed: Promise<void> | null = null;

  private constructor(
    readonly id: string,
    readonly uidBase: number,
    readonly limits: SandboxLimits,
    private readonly cgroups: SandboxCgroups,
    private readonly unshare: ChildProcess,
    readonly initPid: number,
    private readonly initStart: number,
    /** the CPU its mount namespace was made on; see nsCpuOf */
    readonly nsCpu: number,
  ) {
    this.hostname = sandboxHostname(id);
  }

  /** the sandbox's own user namespace, e.g. 'user:4026532177' */
  get userns(): string {
    return this.nsIds.get('user') as string;
  }

  static async create(opts: SandboxOptions): Promise<Sandbox> {
    const cgroups = createCgroups(opts.id, opts.limits);
    const nsCpu = nsCpuOf(readFileSync('/proc/self/status', 'utf8'));
    let unshare: ChildProcess | null = null;
    let stderr = '';
    try {
      unshare = spawn(
        '/bin/sh',
        [
          '-c',
          IN_CGROUPS_SH,
          'in-cgroups',
          ...cgroups.procsFiles,
          '--',
          'setpriv',
          `--reuid=${opts.uidBase}`,
          `--regid=${opts.uidBase}`,
          '--clear-groups',
          '--pdeathsig=KILL',
          '--',
          'taskset',
          '--cpu-list',
          String(nsCpu),
          'unshare',
          '--user',
          '--mount',
          '--pid',
          '--fork',
          '--uts',
          '--ipc',
          '--net',
          '--cgroup',
          '--kill-child',
          '--keep-caps',
          '--propagation',
          'private',
          '--',
          'perl',
          '-e',
          INIT_PL,
          sandboxHostname(opts.id),
          String(opts.limits.diskBytes),
          os.machine(),
        ],
        { stdio: ['pipe', 'pipe', 'pipe'], cwd: '/', env: { PATH: SYSTEM_PATH } },
      );
      const child = unshare;
      child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      // Swallow: the init died before reading its go-ahead (EPIPE); the wait for "ready" reports why it died.
      child.stdin?.on('error', () => undefined);
      const said = saidBy(child);
      const pid = child.pid;
      if (pid === undefined) throw new AppError('KERNEL_ERROR', 'cannot start the sandbox: spawning unshare failed');
      const failed = () =>
        /sandbox setup: /.test(stderr)
          ? new AppError('KERNEL_ERROR', `cannot set the sandbox up: ${stderr.trim()}`)
          : new AppError('NOT_SUPPORTED', `cannot create a sandbox: ${explain(stderr)}`);
      await said(INIT_STARTED, START_DEADLINE_MS, failed);
      // The init runs in the new user namespace (unshare's, whose pid this is): map it, then let it go on.
      if (linkOf(pid, 'user') === readlinkSync('/proc/self/ns/user'))
        throw new AppError('KERNEL_ERROR', 'cannot create a sandbox: unshare made no user namespace');
      const map = `0 ${opts.uidBase} ${Math.min(opts.uidCount, 65536)}\n`;
      writeFileSync(`/proc/${pid}/uid_map`, map);
      writeFileSync(`/proc/${pid}/gid_map`, map);
      child.stdin?.end(`${INIT_GO}\n`);
      await said(INIT_READY, START_DEADLINE_MS, failed);
      const initPid = initOf(pid);
      const initStart = initPid === null ? undefined : readProcStat(initPid)?.startTime;
      if (initPid === null || initStart === undefined)
        throw new AppError('KERNEL_ERROR', 'cannot create a sandbox: its init is not there after saying it is ready');
      const limits: SandboxLimits = {
        ...opts.limits,
        enforced: cgroups.enforced,
        ...(cgroups.missing.length > 0 ? { missing: cgroups.missing } : {}),
      };
      const sandbox = new Sandbox(opts.id, opts.uidBase, limits, cgroups, child, initPid, initStart, nsCpu);
      for (const type of NS_TYPES) {
        const id = linkOf(initPid, type);
        if (id) sandbox.nsIds.set(type, id.replace(/^(\w+):\[(\d+)\]$/, '$1:$2'));
      }
      return sandbox;
    } catch (err) {
      if (unshare?.pid !== undefined && unshare.exitCode === null) {
        killQuietly(unshare.pid);
        const u = unshare;
        await poll(() => (exitedChild(u) ? true : null), DESTROY_DEADLINE_MS, 'unshare to exit').catch(() => undefined);
      }
      await removeCgroups(cgroups);
      throw err instanceof AppError
        ? err
        : new AppError(
            'KERNEL_ERROR',
            `cannot create a sandbox: ${(err as Error).message}${stderr ? ` (${explain(stderr)})` : ''}`,
          );
    }
  }

  /** The init is still there (a learner cannot kill their pid 1, but the kernel's OOM killer can). */
  alive(): boolean {
    const now = readProcStat(this.initPid);
    return this.destroyed === null && !!now && now.state !== 'Z' && now.startTime === this.initStart;
  }

  /**
   * argv that runs `argv` inside the sandbox as its root, counted in its cgroups from the start, and the entry
   * plan whose fds must be released once the child has entered (plan.hold).
   */
  command(
    argv: string[],
    opts: { cwd?: string; plan?: EntryPlan } = {},
  ): { file: string; args: string[]; plan: EntryPlan } {
    if (!this.alive())
      throw new AppError('TARGET_CHANGED', `sandbox ${this.id} has ended; open a new session to get a new one`);
    const plan = opts.plan ?? planProcessEntry(this.initPid, this.initStart);
    const nsenter = [findNsenter(), ...plan.args, `--wdns=${opts.cwd ?? '/'}`, '--', ...argv];
    return {
      file: '/bin/sh',
      args: ['-c', IN_CGROUPS_SH, 'in-cgroups', ...this.cgroups.procsFiles, '--', ...nsenter],
      plan,
    };
  }

  /** PIDs (host numbering) of every process in the sandbox's cgroups: nothing a learner starts can leave them. */
  processes(): number[] {
    return this.cgroups.pids();
  }

  /** The sandbox's own mount table (its init's mountinfo), read from the host: reading only, nothing entered. */
  mountinfo(): string {
    if (!this.alive()) throw new AppError('TARGET_CHANGED', `sandbox ${this.id} has ended`);
    return readFileSync(`/proc/${this.initPid}/mountinfo`, 'utf8');
  }

  /** the init's entry plan (every namespace of the sandbox, as its root); the caller releases it (hold) */
  initPlan(): EntryPlan {
    return planProcessEntry(this.initPid, this.initStart);
  }

  /** Runs a fixed program inside as root to completion; AppError KERNEL_ERROR with its stderr when it fails. */
  async run(argv: string[], what: string): Promise<string> {
    const { file, args, plan } = this.command(argv);
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: '/',
      env: { PATH: SYSTEM_PATH, HOME: '/root' },
    });
    plan.hold(child.pid ?? null);
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const code = await new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(null));
      child.once('close', (c) => resolve(c));
    });
    if (code !== 0) throw new AppError('KERNEL_ERROR', `${what} failed: ${err.trim() || `exit ${code}`}`);
    return out;
  }

  /**
   * Kills its init (which takes down the PID namespace: every process in it), waits for every process in its
   * cgroups to go, removes the cgroups. Mounts and files lived only in its own namespaces and tmpfs: they go
   * with the last process.
   */
  destroy(): Promise<void> {
    return (this.destroyed ??= (async () => {
      const now = readProcStat(this.initPid);
      if (now && now.startTime === this.initStart) killQuietly(this.initPid);
      // What was outside its PID namespace but in its cgroups: unshare and nsenter parents. They exit once they
      // have reaped their child; killed first, a parent left its child's zombie to the machine's PID 1 (2 of 10
      // destroys here), which may reap slowly. So they get a moment to go on their own, and only the stuck ones
      // are killed.
      await poll(
        () => (this.cgroups.pids().length === 0 && exitedChild(this.unshare) ? true : null),
        REAP_GRACE_MS,
        'sandbox parents to reap',
      ).catch(() => undefined);
      for (const pid of this.cgroups.pids()) killQuietly(pid);
      if (this.unshare.pid !== undefined) killQuietly(this.unshare.pid);
      await poll(
        () => (this.cgroups.pids().length === 0 && exitedChild(this.unshare) ? true : null),
        DESTROY_DEADLINE_MS,
        `sandbox ${this.id} processes to exit`,
      ).catch(() => undefined);
      await removeCgroups(this.cgroups);
    })());
  }
}

const sandboxHostname = (id: string): string => `sandbox-${id}`;

/**
 * Waits for the init's stdout to say a line (scripts.ts INIT_PL): resolves once said, rejects with `failed()` when
 * the process ends first (its stderr then says why), KERNEL_ERROR after the deadline. Event-driven: no polling.
 */
function saidBy(child: ChildProcess): (line: string, deadlineMs: number, failed: () => AppError) => Promise<void> {
  let out = '';
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-INIT_OUTPUT_KEPT);
    wake();
  });
  // 'close': the process exited and its stderr is drained, so failed() sees everything it said.
  child.once('close', () => {
    closed = true;
    wake();
  });
  return (line, deadlineMs, failed) =>
    new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        waiters.delete(check);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (out.split('\n').includes(line)) finish();
        else if (closed) finish(failed());
      };
      const timer = setTimeout(
        () =>
          finish(
            new AppError(
              'KERNEL_ERROR',
              `timed out after ${deadlineMs} ms waiting for the sandbox init to say ${line}`,
            ),
          ),
        deadlineMs,
      );
      waiters.add(check);
      check();
    });
}

/** The init says two short lines; a little more is kept in case the perl prints a warning first. */
const INIT_OUTPUT_KEPT = 4096;

async function removeCgroups(cgroups: SandboxCgroups): Promise<void> {
  // rmdir answers EBUSY for a moment after the last process left (v1 frees it asynchronously).
  await poll(() => (cgroups.remove() ? true : null), DESTROY_DEADLINE_MS, 'the sandbox cgroups to empty').catch(
    () => undefined,
  );
}

/**
 * The CPU a sandbox makes its mount namespaces on: the first this server may run on (the Cpus_allowed_list of
 * /proc/self/status, e.g. "0-1" or "2,5-7"). Binding a mount namespace's file is refused (EINVAL, mnt_ns_loop)
 * unless the new namespace's id is greater than the binder's own, and Linux 6.18 hands namespace ids out in
 * per-CPU batches (gen_cookie_next): an id made on one CPU can be smaller than an older one made on another.
 * Ids made on one CPU only ever grow, so the sandbox's mount namespace and every one New namespace persists in
 * it are made on this CPU (taskset for just that unshare). Later kernels count ids globally; pinning is then moot.
 */
export function nsCpuOf(status: string): number {
  const list = /^Cpus_allowed_list:\s*(\d+)/m.exec(status)?.[1];
  if (list === undefined)
    throw new AppError('KERNEL_ERROR', 'cannot create a sandbox: /proc/self/status has no Cpus_allowed_list');
  return Number(list);
}

const exitedChild = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Swallow: already gone (ESRCH), which is what we want.
  }
}

function linkOf(pid: number, type: string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/${type}`);
  } catch {
    return null; // Swallow: not there yet or gone; the caller polls or reports
  }
}

/** unshare's child, once it is in the new PID namespace (its pid_for_children differs from unshare's own pid). */
function initOf(unsharePid: number): number | null {
  let children: string;
  try {
    children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
  } catch {
    return null; // Swallow: unshare not there yet or exited; the poll's failure check reports an exit
  }
  const first = Number(children.split(/\s+/)[0]);
  if (!first) return null;
  // Exec'd the init already: its command line is perl's. Entering before that would be fine, but its start time
  // is read once, here, and the entry check compares with it.
  try {
    return readFileSync(`/proc/${first}/comm`, 'utf8').startsWith('perl') ||
      readFileSync(`/proc/${first}/comm`, 'utf8').startsWith('sandbox-init')
      ? first
      : null;
  } catch {
    return null; // Swallow: exited meanwhile; the failure check reports it
  }
}

/** unshare's complaint in words a server operator can act on. */
function explain(stderr: string): string {
  const text = stderr.trim();
  if (
    /unshare failed: (Operation not permitted|No space left on device|Invalid argument)/.test(text) ||
    /user namespace/i.test(text)
  ) {
    return `${text} — this kernel refuses unprivileged user namespaces here (check sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone = 1, and AppArmor's kernel.apparmor_restrict_unprivileged_userns = 0)`;
  }
  return text || 'unshare exited without saying why';
}
