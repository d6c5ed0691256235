// Namespace files (nsfs) opened once and verified on the opened fd, and the ioctls that tell who owns a
// namespace (linux/nsfs.h). Paths are resolved exactly once: what is verified is what gets entered.
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { open as fspOpen, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:os';
import koffi from 'koffi';
import type { NsType } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { hasCapSysAdmin } from '../proc/status.js';

/** linux/nsfs.h: `_IO(NSIO, n)` with NSIO 0xb7. */
const NS_GET_USERNS = 0xb701;
const NS_GET_PARENT = 0xb702;
const NS_GET_NSTYPE = 0xb703;
const NS_GET_OWNER_UID = 0xb704;

/** CLONE_NEW* per type: what NS_GET_NSTYPE answers (linux/sched.h). */
const CLONE_FLAG: Record<NsType, number> = {
  mnt: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
  cgroup: 0x02000000,
  time: 0x00000080,
};

/**
 * O_PATH (asm-generic/fcntl.h; Node has no constant for it): resolves the path without opening the file, so a
 * FIFO or a device someone put at the path is never opened (a watchdog device starts counting on open).
 */
const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;
/** A user namespace nests at most 32 deep (kernel/user_namespace.c); the walk up stops there whatever happens. */
const MAX_USERNS_DEPTH = 33;

type Ioctl = (fd: number, request: number, ...args: unknown[]) => number;
let ioctlFn: Ioctl | null | undefined;

function ioctl(): Ioctl {
  if (ioctlFn === undefined) {
    try {
      ioctlFn = koffi.load('libc.so.6').func('int ioctl(int fd, unsigned long request, ...)') as Ioctl;
    } catch {
      ioctlFn = null; // Swallow: reported as NsfsError by every caller below (no glibc, no koffi binary)
    }
  }
  if (!ioctlFn) throw new NsfsError('ENOSYS', 'cannot call ioctl(2): libc.so.6 could not be loaded through koffi');
  return ioctlFn;
}

/** A namespace opened and verified by the engine: `fd` is the caller's to close (an EntryPlan takes it over). */
export interface NamespaceEntry {
  type: NsType;
  id: string;
  fd: number;
}

/** Creating and deleting namespaces needs CAP_SYS_ADMIN; say so plainly instead of relaying EPERM. */
export function assertPrivileged(action: string): void {
  if (!hasCapSysAdmin()) {
    const uid = process.getuid?.() ?? -1;
    throw new AppError(
      'NOT_PRIVILEGED',
      `${action} needs root (CAP_SYS_ADMIN); nsconsole runs as uid ${uid} without it`,
    );
  }
}

export function notPrivileged(what: string): AppError {
  const uid = process.geteuid?.() ?? -1;
  return new AppError(
    'NOT_PRIVILEGED',
    `cannot enter ${what}: permission denied — entering another namespace needs CAP_SYS_ADMIN over it (setns(2)), and this server runs as uid ${uid} without it; run nsconsole as root`,
  );
}

export class NsfsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The device number of nsfs, as stat(2) shows it for every namespace file. */
export const nsfsDev = (): number => statSync('/proc/self/ns/user').dev;

/** The inode of the server's own (for a root server: the initial) user namespace. */
export const selfUserNsInode = (): number => statSync('/proc/self/ns/user').ino;

const errnoCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'EIO';

/** The name of the errno the last koffi call left (EPERM…), for messages and for callers that branch on it. */
function lastErrno(): string {
  const n = koffi.errno();
  return Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

/**
 * Opens a namespace file once and checks, on the opened fd, that it is an nsfs file of the expected type and
 * inode. Returns an O_RDONLY fd (ioctl and setns take it; O_PATH fds they refuse), or null when the path holds
 * something else now. Throws the errno (EACCES, ENOENT…) as NsfsError when the path cannot be resolved.
 * `follow`: false for bind-mount paths (a symlink put there is refused), true for /proc/PID/ns/* magic links.
 */
export function openNamespace(
  path: string,
  type: NsType,
  inode: number,
  opts: { follow: boolean; dev: number },
): number | null {
  let pathFd: number;
  try {
    pathFd = openSync(path, O_PATH | (opts.follow ? 0 : O_NOFOLLOW));
  } catch (err) {
    throw new NsfsError(errnoCode(err), `${errnoCode(err)} opening ${path}`);
  }
  try {
    return verifyOpened(pathFd, type, inode, opts.dev);
  } finally {
    closeSync(pathFd);
  }
}

let offLoopBusy = false;

/**
 * openNamespace for a path inside a mount namespace someone else controls (no symlink followed at the end): a
 * FUSE mount of theirs on the way can stall a lookup for as long as they like, so the walk runs on libuv's
 * threadpool, never on the event loop, and is given up after `timeoutMs` (the handle is closed whenever the
 * open ends). Rejects with NsfsError ETIMEDOUT then, and EBUSY while an earlier one is still walking.
 */
export async function openNamespaceOffLoop(
  path: string,
  type: NsType,
  inode: number,
  opts: { dev: number; timeoutMs: number },
): Promise<number | null> {
  // One at a time, until the open itself ends (not the time limit): a stalled walk holds one threadpool thread.
  if (offLoopBusy) throw new NsfsError('EBUSY', `still opening another path inside a foreign mount namespace`);
  offLoopBusy = true;
  const opening = fspOpen(path, O_PATH | O_NOFOLLOW);
  // Registered first, so it runs before the awaits below resume: the next call sees the flag cleared.
  opening.finally(() => (offLoopBusy = false)).catch(() => {}); // Swallow: the awaits below see the error
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), opts.timeoutMs)));
  let handle: FileHandle | null;
  try {
    handle = await Promise.race([opening, late]);
  } catch (err) {
    throw new NsfsError(errnoCode(err), `${errnoCode(err)} opening ${path}`);
  } finally {
    clearTimeout(timer);
  }
  if (handle === null) {
    // Swallow: the open may still fail later; if it succeeds, its handle is closed at once.
    opening.then((h) => h.close()).catch(() => {});
    throw new NsfsError('ETIMEDOUT', `opening ${path} took over ${opts.timeoutMs} ms`);
  }
  try {
    return verifyOpened(handle.fd, type, inode, opts.dev);
  } finally {
    await handle.close();
  }
}

/** The checks on an O_PATH fd: nsfs, this inode, this type; then an O_RDONLY fd on exactly that file. */
function verifyOpened(pathFd: number, type: NsType, inode: number, dev: number): number | null {
  const st = fstatSync(pathFd);
  if (st.dev !== dev || st.ino !== inode) return null;
  // Re-opening the fd's own magic link opens exactly the inode just checked, whatever the path holds now.
  const fd = openSync(`/proc/self/fd/${pathFd}`, 'r');
  if (ioctl()(fd, NS_GET_NSTYPE, 'void *', null) !== CLONE_FLAG[type]) {
    closeSync(fd);
    return null;
  }
  return fd;
}

/** Closes fds this module handed out; an fd already closed is not an error worth more than a no-op. */
export function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Swallow: EBADF means it is already closed, which is what the caller wants.
  }
}

/** The user namespace that owns namespace `fd` (for a user namespace: its parent), as a new fd. */
export function owningUserNs(fd: number): number {
  const call = ioctl();
  const owner = call(fd, NS_GET_USERNS, 'void *', null);
  if (owner < 0) {
    const code = lastErrno();
    throw new NsfsError(code, `NS_GET_USERNS failed: ${code}`);
  }
  return owner;
}

/** The uid that created user namespace `usernsFd`, as seen from the server's user namespace. */
export function ownerUid(usernsFd: number): number {
  const out = Buffer.alloc(4);
  if (ioctl()(usernsFd, NS_GET_OWNER_UID, 'void *', out) < 0) {
    const code = lastErrno();
    throw new NsfsError(code, `NS_GET_OWNER_UID failed: ${code}`);
  }
  return out.readUInt32LE(0);
}

export const inodeOfFd = (fd: number): number => fstatSync(fd).ino;

/**
 * The inodes of user namespace `usernsFd` and of its ancestors up to the server's, nearest first (the server's
 * own included when reached). Stops at the top (EPERM: no parent visible from here).
 */
export function userNsChain(usernsFd: number): number[] {
  const call = ioctl();
  const chain = [inodeOfFd(usernsFd)];
  let fd = usernsFd;
  for (let depth = 0; depth < MAX_USERNS_DEPTH; depth++) {
    const parent = call(fd, NS_GET_PARENT, 'void *', null);
    if (fd !== usernsFd) closeFd(fd);
    if (parent < 0) break;
    fd = parent;
    chain.push(inodeOfFd(fd));
  }
  if (fd !== usernsFd) closeFd(fd);
  return chain;
}

export interface NsOwnerFacts {
  /** inode of the owning user namespace */
  usernsInode: number;
  uid: number;
}

/**
 * Who owns namespace `fd`: its owning user namespace and the uid that created that one. For a user namespace
 * the uid is its own creator's (who made it), the user namespace its parent. Null for the top user namespace.
 */
export function ownerFacts(fd: number, type: NsType): NsOwnerFacts | null {
  let owner: number;
  try {
    owner = owningUserNs(fd);
  } catch {
    return null; // Swallow: EPERM is the answer for the initial user namespace, which has no owner
  }
  try {
    return { usernsInode: inodeOfFd(owner), uid: ownerUid(type === 'user' ? fd : owner) };
  } finally {
    closeFd(owner);
  }
}
