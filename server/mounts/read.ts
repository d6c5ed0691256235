// Reading one mount namespace's mountinfo. With a process in it: open/read/close /proc/PID/mountinfo (never
// kept open: an open mountinfo fd pins the namespace after its last process exits). Without one: by the
// namespace's id through listmount/statmount (mounts/by-id.ts), from the server's own namespace — nothing is
// entered and no program is run, so nothing its owner put in its filesystem ever executes.
import { closeSync, openSync, readSync } from 'node:fs';
import { AppError } from '../http/errors.js';
import { readNsLink } from '../namespaces/discovery.js';
import type { HelperPids } from '../namespaces/run.js';
import { processlessReadMode, readProcesslessMountinfo } from './by-id.js';
import { readMountinfoByEntering } from './enter-read.js';

/** How to reach a mount namespace's table. */
export type MountNsAccess =
  | { kind: 'self' }
  /** processes in it, ascending; the first one still there and still in it answers */
  | { kind: 'pids'; pids: readonly number[] }
  /**
   * No process: the table is read by namespace id (never by entering). `chain` says where its nsfs bind was
   * found: chain[0] is a path in the server's mount namespace (or /proc/PID/root/… of a holder), chain[1] a
   * path inside the namespace chain[0] leads to, and so on; only a one-step chain can be tracked for changes
   * by path, and an empty one means the holder had no process left to reach the bind through. `inodes[i]` is
   * the inode of the namespace bound at chain[i] (checked hop by hop by the fallback for older kernels).
   */
  | { kind: 'chain'; chain: readonly string[]; inodes: readonly string[] };

/** Bind paths kept per chain (for display and tracking); deeper namespaces are still found and read by id. */
export const MAX_CHAIN_DEPTH = 4;

/** How many PIDs to try before giving up on a namespace whose processes keep exiting under us. */
const MAX_PID_ATTEMPTS = 8;

/** Grown on demand, never shrunk: a watched 5,000-mount table is ~600 kB, read a few times a second. */
let scratch = Buffer.allocUnsafe(256 * 1024);

/**
 * A /proc file with open, read…, close into a reused buffer. seq_file hands out about a page per read, so only
 * a read of 0 bytes is the end. Saves readFileSync's fstat and its allocations: on a VM every syscall after an
 * idle moment costs ~0.1 ms of CPU, and watchers read these files several times a second. Returns a copy.
 */
export function readProcFile(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (;;) {
      if (n === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger, 0, 0, n);
        scratch = bigger;
      }
      const got = readSync(fd, scratch, n, scratch.length - n, null);
      if (got === 0) break;
      n += got;
    }
    return Buffer.from(scratch.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/**
 * /proc/PID/mountinfo for a PID that is in `mntId`, checked after the read so the text is never that of a
 * namespace the process moved to. (The scan that listed the PID checked before.) Null when no listed PID is
 * still in it.
 */
export function readMountinfoOfPids(pids: readonly number[], mntId: string): { pid: number; raw: Buffer } | null {
  for (const pid of pids.slice(0, MAX_PID_ATTEMPTS)) {
    let raw: Buffer;
    try {
      raw = readProcFile(`/proc/${pid}/mountinfo`);
    } catch {
      // Swallow: exited; try the next process.
      continue;
    }
    if (readNsLink(pid, 'mnt') === mntId) return { pid, raw };
  }
  return null;
}

/** The table behind `access`, as bytes; AppError NS_NOT_FOUND when every process left and nothing else reaches it. */
export async function readMountinfoRaw(access: MountNsAccess, mntId: string, helperPids: HelperPids): Promise<Buffer> {
  if (access.kind === 'self') return readProcFile('/proc/self/mountinfo');
  if (access.kind === 'chain') {
    if (processlessReadMode() === 'by-id') return await readProcesslessMountinfo(mntId);
    return await readMountinfoByEntering(mntId, hopsOf(access), helperPids);
  }
  const found = readMountinfoOfPids(access.pids, mntId);
  if (!found) throw new AppError('NS_NOT_FOUND', `no process is in ${mntId} any more`);
  return found.raw;
}

/** Text of the table behind `access`. */
export async function readMountinfo(access: MountNsAccess, mntId: string, helperPids: HelperPids): Promise<string> {
  return (await readMountinfoRaw(access, mntId, helperPids)).toString('utf8');
}

/** The chain as (path, inode) hops for the entering fallback. */
export function hopsOf(access: { chain: readonly string[]; inodes: readonly string[] }): { path: string; inode: string }[] {
  return access.chain.map((path, i) => ({ path, inode: access.inodes[i] ?? '' }));
}
