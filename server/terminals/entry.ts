// How a shell enters namespaces: by fds the server opened and verified once (never by a path nsenter resolves
// again), and — for a namespace some user owns through their own user namespace — as that owner, never as root.
//
// nsenter gets `--mount=/proc/<server pid>/fd/<n>`: a magic link to the server's own open fd, which no other
// user can swap. The fds stay open until the child has entered (its namespace link shows the target) or is gone.
import { constants, openSync } from 'node:fs';
import { NS_TYPES, nsIdInode, type NsType } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { hasCapSysAdmin } from '../proc/status.js';
import {
  closeFd,
  inodeOfFd,
  nsfsDev,
  NsfsError,
  notPrivileged,
  openNamespace,
  owningUserNs,
  ownerUid,
  selfUserNsInode,
  userNsChain,
  type NamespaceEntry,
} from '../kernel/nsfs.js';
import { readNsLinkInode } from '../proc/ns-links.js';
import { readProcStat } from '../proc/pids.js';

export type { NamespaceEntry };

export interface EntryPlan {
  /** nsenter options, one `--<type>=/proc/<server pid>/fd/<n>` per namespace entered */
  args: string[];
  /** the uid that owns the user namespace the shell runs in, when it is not the server's own (not root) */
  asOwnerUid: number | null;
  /** release once the child has entered, or has gone; safe to call more than once */
  hold(childPid: number | null): void;
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

/** First and last wait between looks at the child while it enters: nsenter takes ~1-3 ms, a busy machine more. */
const HOLD_POLL_FIRST_MS = 2;
const HOLD_POLL_MAX_MS = 100;

const serverFd = (fd: number): string => `/proc/${process.pid}/fd/${fd}`;
const option = (type: NsType, fd: number): string => `${NSENTER_OPTION[type]}=${serverFd(fd)}`;

/** Enter one namespace. A namespace owned by another user namespace is entered together with that one. */
export function planNamespaceEntry(entry: NamespaceEntry): EntryPlan {
  const fds = [entry.fd];
  try {
    const selfUser = selfUserNsInode();
    if (inodeOfFd(entry.fd) === inodeOfLink('self', entry.type)) {
      // The server's own: the shell is there already. Entering it anyway would leave nothing to tell when
      // nsenter has opened our fd (its links show the target from the start).
      return plan([], fds, [], null);
    }
    if (entry.type === 'user') {
      // A user namespace is entered as uid 0 inside it (nsenter's default): its own powers, and the files the
      // shell runs stay the server's (the mount namespace is not changed).
      requirePrivilege(entry.id, ownerUidOrNull(entry.fd));
      return plan([option('user', entry.fd)], fds, [{ type: 'user', id: entry.id }], null);
    }
    const owner = owningUserNs(entry.fd);
    fds.push(owner);
    const uid = ownerUid(owner);
    if (inodeOfFd(owner) === selfUser) {
      closeFd(fds.pop() as number);
      requirePrivilege(entry.id, null);
      return plan([option(entry.type, entry.fd)], fds, [{ type: entry.type, id: entry.id }], null);
    }
    requirePrivilege(entry.id, uid);
    // nsenter enters the other namespaces first (while it may), the user namespace last, then sets uid/gid 0
    // in it: the shell is resolved and run with exactly the owner's powers (util-linux 2.38, tested).
    return plan([option('user', owner), option(entry.type, entry.fd)], fds, [{ type: entry.type, id: entry.id }], uid);
  } catch (err) {
    for (const fd of fds) closeFd(fd);
    throw err instanceof NsfsError
      ? new AppError('KERNEL_ERROR', `cannot tell who owns ${entry.id}: ${err.message}`)
      : err;
  }
}

/**
 * Enter every namespace of a process (`nsenter --target PID --all` by verified fds). Opened, then the PID's
 * start time is checked again: the fds are that process's even if its number is reused right after. When any of
 * them is owned by another user namespace, the shell runs in one user namespace that is, or lies below, every
 * such owner (the process's own, as --all does) — never as root.
 */
export interface ProcessEntryOptions {
  /** only these namespace types (default: all) */
  types?: readonly NsType[];
  /**
   * Also its root and working directory (a container's): opened as fds before the start time is checked, and
   * given to nsenter as `--root=`/`--wd=` magic links to them, so the shell chroots into that very process's root.
   */
  rootAndCwd?: boolean;
}

export function planProcessEntry(pid: number, startTime: number, opts: ProcessEntryOptions = {}): EntryPlan {
  const dev = nsfsDev();
  const selfUser = selfUserNsInode();
  const opened = new Map<NsType, { fd: number; inode: number }>();
  const fds: number[] = [];
  const fail = (err: unknown): never => {
    for (const fd of fds) closeFd(fd);
    if (err instanceof NsfsError && (err.code === 'EACCES' || err.code === 'EPERM'))
      throw notPrivileged(`process ${pid}`);
    if (err instanceof NsfsError) throw new AppError('PROCESS_NOT_FOUND', `process ${pid} has exited (${err.message})`);
    throw err;
  };
  try {
    for (const type of opts.types ?? NS_TYPES) {
      const self = inodeOfLink('self', type);
      if (self === null) continue; // the kernel lacks this type
      const inode = inodeOfLink(pid, type);
      if (inode === null || inode === self) continue;
      const fd = openNamespace(`/proc/${pid}/ns/${type}`, type, inode, { follow: true, dev });
      if (fd === null)
        throw new AppError('TARGET_CHANGED', `process ${pid} changed namespaces while being entered; try again`);
      fds.push(fd);
      opened.set(type, { fd, inode });
    }
    const dirArgs: string[] = [];
    if (opts.rootAndCwd) {
      for (const [link, flag] of [
        ['root', '--root'],
        ['cwd', '--wd'],
      ] as const) {
        const fd = openDir(`/proc/${pid}/${link}`, pid);
        fds.push(fd);
        dirArgs.push(`${flag}=${serverFd(fd)}`);
      }
    }
    const now = readProcStat(pid);
    if (!now || now.state === 'Z') throw new AppError('PROCESS_NOT_FOUND', `process ${pid} has exited`);
    if (now.startTime !== startTime) throw new AppError('TARGET_CHANGED', `process ${pid} is a different process now`);

    const untrustedOwners = new Map<number, number>(); // owner inode → an fd on it
    for (const [type, { fd }] of opened) {
      if (type === 'user') continue;
      const owner = owningUserNs(fd);
      fds.push(owner);
      const inode = inodeOfFd(owner);
      if (inode !== selfUser && !untrustedOwners.has(inode)) untrustedOwners.set(inode, owner);
    }
    // The user namespace to run in: the process's own if it has one, else the deepest owner of its namespaces.
    const ownUser = opened.get('user')?.fd;
    const candidates = ownUser !== undefined ? [ownUser] : [...untrustedOwners.values()];
    let userFd: number | null = null;
    for (const candidate of candidates) {
      const chain = userNsChain(candidate);
      if ([...untrustedOwners.keys()].every((owner) => chain.includes(owner))) {
        userFd = candidate;
        break;
      }
    }
    if (userFd === null && candidates.length > 0) {
      throw new AppError(
        'NOT_SUPPORTED',
        `process ${pid} is in namespaces of unrelated user namespaces; nsconsole enters another user's namespaces only as their owner and cannot pick one here — enter its namespaces one by one`,
      );
    }
    const args: string[] = [];
    const expect: Expectation[] = [];
    for (const [type, { fd, inode }] of opened) {
      if (type === 'user') continue;
      args.push(option(type, fd));
      expect.push({ type, id: `${type}:${inode}` });
    }
    if (userFd === null) {
      requirePrivilege(`process ${pid}`, null);
      return plan([...args, ...dirArgs], fds, expect, null);
    }
    const uid = ownerUid(userFd);
    requirePrivilege(`process ${pid}`, uid);
    expect.push({ type: 'user', id: `user:${inodeOfFd(userFd)}` });
    return plan([option('user', userFd), ...args, ...dirArgs], fds, expect, uid);
  } catch (err) {
    return fail(err);
  }
}

/** A process's root or cwd as a directory fd; its exit (or no permission) is an AppError. */
function openDir(path: string, pid: number): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw notPrivileged(`process ${pid}`);
    throw new AppError('PROCESS_NOT_FOUND', `process ${pid} has exited (${code ?? String(err)})`);
  }
}

interface Expectation {
  type: NsType;
  id: string;
}

function inodeOfLink(pid: number | 'self', type: NsType): number | null {
  // null: exited, or the kernel lacks the type; the caller skips it
  const inode = readNsLinkInode(pid, type);
  return inode === null ? null : Number(inode);
}

function ownerUidOrNull(usernsFd: number): number | null {
  try {
    return ownerUid(usernsFd);
  } catch {
    return null; // Swallow: unreadable means "not provably ours", which requirePrivilege treats as root-only
  }
}

/** Without CAP_SYS_ADMIN the server can enter only a user namespace its own uid made (and what that owns). */
function requirePrivilege(what: string, ownerUidOfUserns: number | null): void {
  if (hasCapSysAdmin()) return;
  if (ownerUidOfUserns !== null && ownerUidOfUserns === process.geteuid?.()) return;
  throw notPrivileged(what);
}

function plan(args: string[], fds: number[], expect: Expectation[], asOwnerUid: number | null): EntryPlan {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    for (const fd of fds) closeFd(fd);
  };
  return {
    args,
    asOwnerUid,
    hold(childPid) {
      if (childPid === null || expect.length === 0) return release();
      const started = readProcStat(childPid)?.startTime;
      let wait = HOLD_POLL_FIRST_MS;
      const look = () => {
        if (released) return;
        const now = readProcStat(childPid);
        // Gone (or another process by now): nothing can open our fds through it any more.
        if (!now || now.state === 'Z' || now.startTime !== started || entered(childPid, expect)) return release();
        wait = Math.min(wait * 2, HOLD_POLL_MAX_MS);
        setTimeout(look, wait).unref();
      };
      look();
    },
  };
}

/**
 * nsenter opens every namespace file while it parses its options, before the first setns: once any namespace
 * link of the child (or its `_for_children` link: pid, time) shows a target, it holds its own fds.
 */
function entered(pid: number, expect: Expectation[]): boolean {
  for (const { type, id } of expect) {
    const inode = nsIdInode(id);
    for (const link of type === 'pid' || type === 'time' ? [type, `${type}_for_children`] : [type]) {
      // null: gone or not readable yet; the next look (or the exit check) decides.
      if (readNsLinkInode(pid, link) === inode) return true;
    }
  }
  return false;
}
