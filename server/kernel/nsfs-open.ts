// Opening an nsfs file (a namespace's bind, `/proc/PID/ns/mnt`) at a path its owner may control, without the
// side effects an ordinary open(2) can have there: O_PATH never opens the file itself (a FIFO swapped in does
// not block us, a device bound there is not opened) and O_NOFOLLOW refuses a symlink in the last step. Only
// when device and inode say it is the expected namespace is it handed on — as /proc/self/fd/N, whose open
// reopens exactly that nsfs file, for APIs that take a path.
import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';

/** Linux's O_PATH and O_CLOEXEC (x86_64 and arm64 alike); Node does not export them. */
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

let nsfsDev: number | null = null;

/** The device number of nsfs (every namespace file shares it). */
function nsfsDevice(): number {
  nsfsDev ??= statSync('/proc/self/ns/mnt').dev;
  return nsfsDev;
}

/**
 * `fn` with a path to the verified nsfs file of namespace inode `inode` found at `path`; null (and `fn` not
 * called) when the path is gone or holds anything else.
 */
export function withVerifiedNsfs<T>(path: string, inode: string, fn: (procPath: string) => T): T | null {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | constants.O_NOFOLLOW | O_CLOEXEC);
  } catch {
    return null; // Swallow: unmounted or its holder exited; the caller goes on without it
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (st.dev !== BigInt(nsfsDevice()) || st.ino !== BigInt(inode)) return null;
    return fn(`/proc/self/fd/${fd}`);
  } finally {
    closeSync(fd);
  }
}
