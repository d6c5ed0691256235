// Target → the argv that starts a shell there. Never a shell string: `nsenter --mount=PATH -- SHELL` as an array,
// with PATH coming from the namespace engine (discovery), never from the client.
import { statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Target } from '../../shared/api.js';
import { containerLaunch, type ContainerFinder } from '../containers/launch.js';
import { AppError } from '../errors.js';
import { planNamespaceEntry, planProcessEntry, type EntryPlan, type NamespaceEntry } from './entry.js';
import { readProcStat } from '../proc/pids.js';
import { hostBinary } from '../proc/run.js';

export interface LaunchSpec {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** what the shell is attached to, for logs and `$NSCONSOLE_TARGET` (a prompt can show it) */
  description: string;
  /** Re-checks the target right before the spawn (synchronous, so nothing runs in between); throws AppError. */
  verify?: () => void;
  /**
   * Called once right after the spawn with the child's PID, or with null when there was none (verify threw, the
   * spawn failed): the spec lets go of what it holds for the child (namespace fds) once the child no longer
   * needs them.
   */
  started?: (pid: number | null) => void;
}

export type { NamespaceEntry } from './entry.js';

/** The part of the namespace engine (server/namespaces/engine.ts) that launching needs. */
export interface NamespaceEntryResolver {
  /** the namespace opened and verified by fd; throws AppError NS_NOT_FOUND / TARGET_CHANGED / NOT_PRIVILEGED */
  entryFor(id: string): Promise<NamespaceEntry>;
}

/** nsenter from the host's system directories (proc/run.ts hostBinary): never a PATH lookup. */
export function findNsenter(): string {
  return hostBinary('nsenter');
}

/**
 * The shell's environment, built from scratch rather than inherited: the server's own environment may hold
 * NSCONSOLE_TOKEN, which a shell (and everything it runs) must never see.
 */
export function shellEnv(shell: string, description: string): Record<string, string> {
  const user = userInfo();
  const env: Record<string, string> = {
    PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: user.homedir,
    USER: user.username,
    LOGNAME: user.username,
    SHELL: shell,
    TERM: 'xterm-256color',
    COLORTERM: 'truecolor',
    NSCONSOLE_TARGET: description,
  };
  for (const name of ['LANG', 'LC_ALL', 'LC_CTYPE', 'TZ']) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

function hostCwd(): string {
  const home = userInfo().homedir;
  try {
    if (statSync(home).isDirectory()) return home;
  } catch {
    // Swallow: no home directory; `/` is always there.
  }
  return '/';
}

export function createLauncher(deps: {
  shell: string;
  engine: NamespaceEntryResolver;
  nsenter?: string;
  containers?: ContainerFinder;
}): (target: Target) => Promise<LaunchSpec> {
  const nsenter = deps.nsenter ?? findNsenter();
  const hostShell = (): LaunchSpec => ({
    file: deps.shell,
    args: [],
    cwd: hostCwd(),
    env: shellEnv(deps.shell, 'host'),
    description: 'host',
  });
  // Inside a namespace nsenter sets the cwd (`--wdns=/`): a host directory may not exist there, and a cwd
  // inherited from another mount namespace leaves `pwd` pointing at a mount the user cannot see.
  const viaNsenter = (entry: EntryPlan, description: string, verify?: () => void): LaunchSpec => ({
    file: nsenter,
    args: [...entry.args, '--wdns=/', '--', deps.shell],
    cwd: '/',
    env: shellEnv(deps.shell, description),
    description:
      entry.asOwnerUid === null ? description : `${description} in the user namespace of uid ${entry.asOwnerUid}`,
    ...(verify ? { verify } : {}),
    started: (pid) => entry.hold(pid),
  });

  return async (target) => {
    switch (target.kind) {
      case 'host':
        return hostShell();
      case 'namespace': {
        const entry = await deps.engine.entryFor(target.id);
        return viaNsenter(planNamespaceEntry(entry), target.id);
      }
      case 'process': {
        const pid = target.pid;
        const seen = readProcStat(pid);
        if (!seen || seen.state === 'Z') throw new AppError('PROCESS_NOT_FOUND', `process ${pid} does not exist`);
        // Its namespaces are opened now and the start time checked after: the fds are that process's. The
        // check before the spawn keeps today's answer for a process that exited meanwhile.
        const verify = () => {
          const now = readProcStat(pid);
          if (!now || now.state === 'Z') throw new AppError('PROCESS_NOT_FOUND', `process ${pid} has exited`);
          if (now.startTime !== seen.startTime)
            throw new AppError('TARGET_CHANGED', `process ${pid} is a different process now`);
        };
        return viaNsenter(planProcessEntry(pid, seen.startTime), `pid ${pid}`, verify);
      }
      case 'container':
        return containerLaunch(target, { containers: deps.containers, nsenter, hostShell: deps.shell, env: shellEnv });
    }
  };
}
