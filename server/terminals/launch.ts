// Target → the argv that starts a shell there. Never a shell string: `nsenter --mount=PATH -- SHELL` as an array,
// with PATH coming from the namespace engine (discovery), never from the client.
import { existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { NsType, Target } from '../../shared/api.js';
import { AppError } from '../http/errors.js';
import { readProcStat } from './process-group.js';

export interface LaunchSpec {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** what the shell is attached to, for logs and `$NSCONSOLE_TARGET` (a prompt can show it) */
  description: string;
  /** Re-checks the target right before the spawn (synchronous, so nothing runs in between); throws AppError. */
  verify?: () => void;
}

/** How to enter a namespace, as the namespace engine answers it (re-verified by the engine when asked). */
export type NamespaceEntry = { type: NsType; path: string } | { type: NsType; pid: number };

/** The part of the namespace engine (server/namespaces/engine.ts) that launching needs. */
export interface NamespaceEntryResolver {
  /** throws AppError NS_NOT_FOUND / TARGET_CHANGED */
  entryFor(id: string): Promise<NamespaceEntry>;
}

/** nsenter's option for each namespace type. */
const NSENTER_OPTION: Record<NsType, string> = {
  mnt: '--mount',
  uts: '--uts',
  ipc: '--ipc',
  net: '--net',
  pid: '--pid',
  user: '--user',
  cgroup: '--cgroup',
  time: '--time',
};

export function findNsenter(): string {
  for (const candidate of ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter', '/sbin/nsenter']) {
    if (existsSync(candidate)) return candidate;
  }
  return 'nsenter';
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

export function createLauncher(deps: { shell: string; engine: NamespaceEntryResolver; nsenter?: string }): (target: Target) => Promise<LaunchSpec> {
  const nsenter = deps.nsenter ?? findNsenter();
  const hostShell = (): LaunchSpec => ({ file: deps.shell, args: [], cwd: hostCwd(), env: shellEnv(deps.shell, 'host'), description: 'host' });
  // Inside a namespace nsenter sets the cwd (`--wdns=/`): a host directory may not exist there, and a cwd
  // inherited from another mount namespace leaves `pwd` pointing at a mount the user cannot see.
  const viaNsenter = (enter: string[], description: string, verify?: () => void): LaunchSpec => ({
    file: nsenter,
    args: [...enter, '--wdns=/', '--', deps.shell],
    cwd: '/',
    env: shellEnv(deps.shell, description),
    description,
    ...(verify ? { verify } : {}),
  });

  return async (target) => {
    switch (target.kind) {
      case 'host':
        return hostShell();
      case 'namespace': {
        const entry = await deps.engine.entryFor(target.id);
        const option = NSENTER_OPTION[entry.type];
        const enter = 'path' in entry ? [`${option}=${entry.path}`] : ['--target', String(entry.pid), option];
        return viaNsenter(enter, target.id);
      }
      case 'process': {
        const pid = target.pid;
        const seen = readProcStat(pid);
        if (!seen || seen.state === 'Z') throw new AppError('PROCESS_NOT_FOUND', `process ${pid} does not exist`);
        // The PID could be reused between this check and the spawn; its start time tells the two apart. A small
        // window remains between the spawn and nsenter opening /proc/PID/ns/* (nsenter 2.38 takes no pidfd).
        const verify = () => {
          const now = readProcStat(pid);
          if (!now || now.state === 'Z') throw new AppError('PROCESS_NOT_FOUND', `process ${pid} has exited`);
          if (now.startTime !== seen.startTime) throw new AppError('TARGET_CHANGED', `process ${pid} is a different process now`);
        };
        return viaNsenter(['--target', String(pid), '--all'], `pid ${pid}`, verify);
      }
    }
  };
}
