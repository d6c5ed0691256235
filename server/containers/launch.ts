// Session targets for containers: `{kind:"container", id}` (the container's own shell, in all of its namespaces,
// chrooted into its root) and `{kind:"container", id, tools:"host"}` (the host's shell and tools in the
// container's namespaces except its mount namespace, for images without a shell).
import { existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { HOST_TOOLS_ROOT, NS_TYPES, type Target } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { planProcessEntry } from '../terminals/entry.js';
import type { LaunchSpec } from '../terminals/launch.js';
import { readProcStat } from '../proc/pids.js';
import { shortId } from './cgroup.js';
import { containerOf, type ContainerInfo } from './tracker.js';

export interface ContainerFinder {
  /** AppError CONTAINER_NOT_FOUND when no running container has that id, id prefix or name */
  find(ref: string): Promise<ContainerInfo>;
}

export interface ContainerLaunchDeps {
  containers: ContainerFinder | undefined;
  nsenter: string;
  /** the host shell (config) for `tools: "host"` */
  hostShell: string;
  env: (shell: string, description: string) => Record<string, string>;
}

/** Shells looked for in a container's image, first found wins. */
const CONTAINER_SHELLS = ['/bin/bash', '/bin/sh', '/usr/bin/bash', '/usr/bin/sh', '/bin/ash'];
/** Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;
/** Inside a container the host's PATH means nothing: the usual one. */
const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type ContainerTarget = Extract<Target, { kind: 'container' }>;

export async function containerLaunch(target: ContainerTarget, deps: ContainerLaunchDeps): Promise<LaunchSpec> {
  if (!deps.containers) throw new AppError('CONTAINER_NOT_FOUND', 'containers are not tracked by this server');
  const c = await deps.containers.find(target.id);
  const seen = readProcStat(c.pid);
  if (!seen || seen.state === 'Z') throw new AppError('CONTAINER_NOT_FOUND', `container ${c.name} has stopped`);
  const label = `container ${c.name} (${shortId(c.id)})`;
  // Right before the spawn: the same process (PID and start time), still in the same container. A container
  // restarted meanwhile has a new init, so its old PID fails here rather than letting a stranger be entered.
  const verify = () => {
    const now = readProcStat(c.pid);
    if (!now || now.state === 'Z') throw new AppError('CONTAINER_NOT_FOUND', `container ${c.name} has stopped`);
    if (now.startTime !== seen.startTime || containerOf(c.pid)?.id !== c.id)
      throw new AppError('TARGET_CHANGED', `container ${c.name} restarted while being entered; try again`);
  };

  if (target.tools === 'host') return hostTools(c, seen.startTime, label, verify, deps);

  const shell = CONTAINER_SHELLS.find((path) => executableInRoot(`/proc/${c.pid}/root`, path));
  if (!shell)
    throw new AppError(
      'CONTAINER_NO_SHELL',
      `${label} has no shell (looked for ${CONTAINER_SHELLS.join(', ')}); enter it with host tools instead`,
    );
  const entry = planProcessEntry(c.pid, seen.startTime, { rootAndCwd: true });
  return {
    file: deps.nsenter,
    args: [...entry.args, '--', shell],
    cwd: '/',
    env: { ...deps.env(shell, label), PATH: CONTAINER_PATH, HOME: '/root' },
    description: entry.asOwnerUid === null ? label : `${label} in the user namespace of uid ${entry.asOwnerUid}`,
    verify,
    started: (pid) => entry.hold(pid),
  };
}

/**
 * The host's shell in the container's PID, network, UTS, IPC, cgroup (and user, time) namespaces, in a mount
 * namespace of its own (a private copy of the host's). Every binary is the host's, resolved here in the host's
 * mount namespace, and nothing is exec'd from the container's tree. A script (run by the host's /bin/sh) mounts a
 * /proc of the container's PID namespace — so ps shows its processes — and links HOST_TOOLS_ROOT to /proc/1/root:
 * the container's init's root, reached through the kernel's magic link. (A bind mount cannot do this: the kernel
 * refuses to bind a mount of another mount namespace.) PID 1 of that PID namespace is the container's init for
 * as long as the namespace lives, so the link cannot come to point at another process.
 */
function hostTools(
  c: ContainerInfo,
  startTime: number,
  label: string,
  verify: () => void,
  deps: ContainerLaunchDeps,
): LaunchSpec {
  const self = readlinkSafe('/proc/self/ns/pid');
  if (c.namespaces.pid === undefined || readlinkSafe(`/proc/${c.pid}/ns/pid`) === self) {
    throw new AppError('NOT_SUPPORTED', `${label} shares the host's PID namespace; enter it without host tools`);
  }
  const sh = hostBinary('sh');
  const mount = hostBinary('mount');
  const ln = hostBinary('ln');
  const unshare = hostBinary('unshare');
  const entry = planProcessEntry(c.pid, startTime, { types: NS_TYPES.filter((t) => t !== 'mnt') });
  const dir = HOST_TOOLS_ROOT.slice(0, HOST_TOOLS_ROOT.lastIndexOf('/')) || '/';
  // $1 mount, $2 ln, $3 the directory that gets a tmpfs, $4 the link, $5 the host shell. Arguments, not text:
  // nothing from the container or the client reaches the script's text.
  const script = [
    'set -e',
    '"$1" -t proc -o nosuid,nodev,noexec proc /proc',
    // The network namespace's devices under /sys/class/net for tools that look there; ip(8) uses netlink.
    '"$1" -t sysfs -o nosuid,nodev,noexec,ro sysfs /sys 2>/dev/null || true # a read-only /sys is a nicety: the host one stays',
    '"$1" -t tmpfs -o mode=0755,size=64k nsconsole "$3"',
    '"$2" -s /proc/1/root "$4"',
    'cd "$4"',
    'exec "$5"',
  ].join('\n');
  const description = `${label} with host tools: the host's programs in the container's PID, network, UTS, IPC and cgroup namespaces; its files under ${HOST_TOOLS_ROOT}`;
  return {
    file: deps.nsenter,
    args: [
      ...entry.args,
      '--',
      unshare,
      '--mount',
      '--propagation',
      'private',
      '--',
      sh,
      '-c',
      script,
      'nsconsole-host-tools',
      mount,
      ln,
      dir,
      HOST_TOOLS_ROOT,
      deps.hostShell,
    ],
    cwd: '/',
    env: deps.env(deps.hostShell, description),
    description:
      entry.asOwnerUid === null ? description : `${description}, in the user namespace of uid ${entry.asOwnerUid}`,
    verify,
    started: (pid) => entry.hold(pid),
  };
}

function hostBinary(name: string): string {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const path = `${dir}/${name}`;
    if (existsSync(path)) return path;
  }
  throw new AppError('NOT_SUPPORTED', `the host has no ${name}; host tools need sh, mount, ln and unshare`);
}

function readlinkSafe(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null; // Swallow: gone or unreadable; the caller treats it as "not the same"
  }
}

/**
 * Whether `path` names an executable file inside the tree at `root` (a /proc/PID/root), following its symlinks
 * as they resolve inside that tree — never against the host's root, which a plain stat of an absolute symlink
 * under /proc/PID/root would do. Only a check: the exec happens inside the container, chrooted, by nsenter.
 */
export function executableInRoot(root: string, path: string): boolean {
  let rest = path.split('/').filter((p) => p.length > 0);
  const done: string[] = [];
  let hops = 0;
  try {
    while (rest.length > 0) {
      const part = rest.shift() as string;
      if (part === '.') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      const full = `${root}/${[...done, part].join('/')}`;
      const st = lstatSync(full);
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINKS) return false;
        const link = readlinkSync(full);
        if (link.startsWith('/')) done.length = 0;
        rest = [...link.split('/').filter((p) => p.length > 0), ...rest];
        continue;
      }
      done.push(part);
    }
    const st = statSync(`${root}/${done.join('/')}`);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false; // Swallow: a missing component means no such file in that tree
  }
}
