// Session targets inside a sandbox → the argv that starts the shell there, as the sandbox's root (an unprivileged
// uid outside), counted in its cgroups. "host" means the sandbox itself; a namespace or a process must be inside
// it (else NS_NOT_FOUND / PROCESS_NOT_FOUND, exactly as if it did not exist).
import { existsSync, readlinkSync } from 'node:fs';
import type { NsType, Target } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { closeFd, inodeOfFd, NsfsError, openNamespace, owningUserNs, userNsChain, nsfsDev } from '../kernel/nsfs.js';
import type { NamespaceEngine } from '../namespaces/engine.js';
import { planProcessEntry, type EntryPlan } from '../terminals/entry.js';
import { shellEnv, type LaunchSpec } from '../terminals/launch.js';
import { readProcStat } from '../proc/pids.js';
import type { SandboxManager } from './manager.js';
import { ownedWithin } from './scope.js';
import type { Sandbox } from './sandbox.js';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SandboxLaunchDeps {
  shell: string;
  manager: SandboxManager;
  /** the engine scoped to an owner's sandbox (scope.ts, owners.ts): its entryFor refuses namespaces outside */
  scopedFor(owner: string): NamespaceEngine;
}

/** Directories a sandbox has its own empty copy of (scripts.ts INIT_PL): a host shell there is not visible inside. */
const SANDBOX_PRIVATE_DIRS = ['/root/', '/tmp/', '/mnt/', '/run/', '/var/tmp/', '/home/', '/etc/'];

/** The shell to run inside: --shell when the sandbox sees it (the host tree), else bash or sh. */
export function sandboxShell(shell: string): string {
  if (!SANDBOX_PRIVATE_DIRS.some((d) => shell.startsWith(d))) return shell;
  return existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

/** Launches a session's shell in its owner's sandbox (the owner is whoever created the session). */
export function createSandboxLauncher(deps: SandboxLaunchDeps): (target: Target, owner: string) => Promise<LaunchSpec> {
  const shell = sandboxShell(deps.shell);
  const spec = (
    owner: string,
    sb: Sandbox,
    argvPlan: EntryPlan | undefined,
    cwd: string,
    description: string,
    verify?: () => void,
  ): LaunchSpec => {
    const { file, args, plan } = sb.command([shell], { cwd, ...(argvPlan ? { plan: argvPlan } : {}) });
    const env = { ...shellEnv(shell, description), PATH: SYSTEM_PATH, HOME: '/root', USER: 'root', LOGNAME: 'root' };
    return {
      file,
      args,
      cwd: '/',
      env,
      description,
      ...(verify ? { verify } : {}),
      started: (pid) => {
        plan.hold(pid);
        if (pid !== null) deps.manager.sessionStarted(owner, pid);
      },
    };
  };

  return async (target, owner) => {
    const sb = await deps.manager.get(owner);
    switch (target.kind) {
      case 'host':
        return spec(owner, sb, undefined, '/root', `sandbox ${sb.id}`);
      case 'namespace': {
        const entry = await deps.scopedFor(owner).entryFor(target.id);
        return spec(
          owner,
          sb,
          namespacePlan(sb, entry.type, entry.fd, target.id),
          '/',
          `${target.id} in sandbox ${sb.id}`,
        );
      }
      case 'process': {
        const pid = target.pid;
        const seen = readProcStat(pid);
        if (!seen || seen.state === 'Z' || !inSandbox(pid, sb))
          throw new AppError('PROCESS_NOT_FOUND', `no process ${pid} in this sandbox`);
        const verify = () => {
          const now = readProcStat(pid);
          if (!now || now.state === 'Z') throw new AppError('PROCESS_NOT_FOUND', `process ${pid} has exited`);
          if (now.startTime !== seen.startTime)
            throw new AppError('TARGET_CHANGED', `process ${pid} is a different process now`);
        };
        return spec(owner, sb, planProcessEntry(pid, seen.startTime), '/', `pid ${pid} in sandbox ${sb.id}`, verify);
      }
      case 'container':
        // Containers run on the host, never inside a sandbox: from here no container exists.
        throw new AppError('CONTAINER_NOT_FOUND', `no container ${JSON.stringify(target.id)} in this sandbox`);
    }
  };
}

/** The process's user namespace is the sandbox's or lies below it. */
function inSandbox(pid: number, sb: Sandbox): boolean {
  let fd: number | null = null;
  try {
    fd = openNamespace(`/proc/${pid}/ns/user`, 'user', inodeFromId(readUserLink(pid)), {
      follow: true,
      dev: nsfsDev(),
    });
    if (fd === null) return false;
    return userNsChain(fd).includes(inodeFromId(sb.userns));
  } catch (err) {
    if (err instanceof NsfsError) return false; // Swallow: gone or unreadable: not provably inside, so outside
    throw err;
  } finally {
    if (fd !== null) closeFd(fd);
  }
}

function readUserLink(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/user`).replace(/^user:\[(\d+)\]$/, 'user:$1');
  } catch {
    return 'user:0'; // Swallow: gone; inode 0 never verifies, so the caller answers "not in this sandbox"
  }
}

const inodeFromId = (id: string): number => Number(id.slice(id.indexOf(':') + 1));

/**
 * Every namespace of the sandbox, with the target's type replaced by the target, in the user namespace that owns
 * the target when that lies below the sandbox's (a learner's `unshare -U`), else the sandbox's own. The process
 * stays in the sandbox's PID, network, UTS… namespaces whatever it enters: never the host's.
 */
function namespacePlan(sb: Sandbox, type: NsType, fd: number, id: string): EntryPlan {
  // Checked on the fd that will be entered, whatever the list said: never a namespace of the host's.
  if (!ownedWithin(fd, type, sb)) {
    closeFd(fd);
    throw new AppError('NS_NOT_FOUND', `no namespace ${id} in this sandbox`);
  }
  const base = sb.initPlan();
  const extra: number[] = [fd];
  try {
    const option = `--${type === 'mnt' ? 'mount' : type}=`;
    let args = base.args.filter((a) => !a.startsWith(option));
    args.push(`${option}/proc/${process.pid}/fd/${fd}`);
    if (type !== 'user') {
      const owner = owningUserNs(fd);
      extra.push(owner);
      if (inodeOfFd(owner) !== inodeFromId(sb.userns)) {
        args = args.filter((a) => !a.startsWith('--user='));
        args.unshift(`--user=/proc/${process.pid}/fd/${owner}`);
      }
    }
    let released = false;
    return {
      args,
      asOwnerUid: base.asOwnerUid,
      hold(childPid) {
        base.hold(childPid);
        // Our extra fds are released with the same rule as the base plan's: once the child is gone or has
        // entered. The base plan polls; a short fixed delay would race, so they follow its release.
        if (released) return;
        released = true;
        const release = () => extra.forEach((x) => closeFd(x));
        if (childPid === null) return release();
        waitEntered(childPid, id, release);
      },
    };
  } catch (err) {
    base.hold(null);
    extra.forEach((x) => closeFd(x));
    if (err instanceof NsfsError) throw new AppError('KERNEL_ERROR', `cannot tell who owns ${id}: ${err.message}`);
    throw err;
  }
}

/** Calls `done` once the child shows namespace `id` (it has opened our fds) or is gone. */
function waitEntered(pid: number, id: string, done: () => void): void {
  const started = readProcStat(pid)?.startTime;
  const type = id.slice(0, id.indexOf(':'));
  const inode = id.slice(id.indexOf(':') + 1);
  let wait = 2;
  const look = () => {
    const now = readProcStat(pid);
    let inIt = false;
    for (const link of type === 'pid' ? ['pid', 'pid_for_children'] : [type]) {
      try {
        if (readlinkSync(`/proc/${pid}/ns/${link}`).endsWith(`[${inode}]`)) inIt = true;
      } catch {
        // Swallow: gone or not readable yet; the exit check below decides
      }
    }
    if (!now || now.state === 'Z' || now.startTime !== started || inIt) return done();
    wait = Math.min(wait * 2, 100);
    setTimeout(look, wait).unref();
  };
  look();
}
