// Reading one mount namespace's mountinfo. With a process in it: open/read/close /proc/PID/mountinfo (never
// kept open: an open mountinfo fd pins the namespace after its last process exits). Without one: by the
// namespace's id through listmount/statmount (mounts/by-id.ts), from the server's own namespace — nothing is
// entered and no program is run, so nothing its owner put in its filesystem ever executes.
import { closeSync, openSync, readSync } from 'node:fs';
import { AppError } from '../errors.js';
import type { HelperPids } from '../proc/run.js';
import { MAX_PID_ATTEMPTS } from '../proc/pids.js';
import type { ReadCut } from '../proc/scan-jobs.js';
import { TABLE_READ_CAPS, type ScanPool } from '../proc/scan-pool.js';
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

const SCRATCH_BYTES = 64 * 1024;
/** Reused for small files (/proc/loadavg, read every check); a bigger read uses a buffer of its own, then drops it. */
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/**
 * A small /proc file with open, read…, close. seq_file hands out about a page per read, so only a read of 0
 * bytes is the end. Saves readFileSync's fstat and its allocations: on a VM every syscall after an idle moment
 * costs ~0.1 ms of CPU, and watchers read these files several times a second. Returns a copy. Synchronous, on
 * the calling thread: never for a file whose size or cost someone else controls (mount tables go through the
 * scan pool's worker, see readMountinfoOfPids).
 */
export function readProcFile(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    let buf = scratch;
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    return Buffer.from(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** A mount table as read: whole lines, and `cut` when only its first part was read (byte cap or time budget). */
export interface MountinfoRead {
  raw: Buffer;
  cut?: ReadCut;
  /** what the read itself took (on the worker, without waiting for it), ms; absent for a helper's read */
  ms?: number;
}

/**
 * /proc/PID/mountinfo for a PID that is in `mntId`, checked after the read so the text is never that of a
 * namespace the process moved to. (The scan that listed the PID checked before.) Null when no listed PID is
 * still in it. Read on the scan pool's worker within TABLE_READ_CAPS: the main thread never waits on the kernel
 * printing a table whose size its owner chose.
 */
export async function readMountinfoOfPids(
  pool: ScanPool,
  pids: readonly number[] | null,
  mntId: string,
): Promise<(MountinfoRead & { pid: number | null }) | null> {
  const [r] = await pool.mountinfo([{ mnt: mntId, pids }], MAX_PID_ATTEMPTS);
  if (!r) return null;
  const raw = Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength);
  return r.cut ? { pid: r.pid, raw, cut: r.cut, ms: r.ms } : { pid: r.pid, raw, ms: r.ms };
}

/**
 * The table behind `access`, as bytes (within TABLE_READ_CAPS); AppError NS_NOT_FOUND when every process left
 * and nothing else reaches it.
 */
export async function readMountinfoRaw(
  access: MountNsAccess,
  mntId: string,
  helperPids: HelperPids,
  pool: ScanPool,
): Promise<MountinfoRead> {
  if (access.kind === 'chain') {
    if (processlessReadMode() === 'by-id') return capText(await readProcesslessMountinfo(mntId));
    return capText(await readMountinfoByEntering(mntId, hopsOf(access), helperPids));
  }
  const found = await readMountinfoOfPids(pool, access.kind === 'self' ? null : access.pids, mntId);
  if (!found) throw new AppError('NS_NOT_FOUND', `no process is in ${mntId} any more`);
  const read: MountinfoRead = { raw: found.raw, ms: found.ms };
  if (found.cut) read.cut = found.cut;
  return read;
}

/** A processless table held to the same byte cap as a /proc read: whole lines up to TABLE_READ_CAPS.maxBytes. */
function capText(raw: Buffer): MountinfoRead {
  if (raw.length <= TABLE_READ_CAPS.maxBytes) return { raw };
  return { raw: raw.subarray(0, raw.lastIndexOf(10, TABLE_READ_CAPS.maxBytes - 1) + 1), cut: 'bytes' };
}

/** The chain as (path, inode) hops for the entering fallback. */
export function hopsOf(access: {
  chain: readonly string[];
  inodes: readonly string[];
}): { path: string; inode: string }[] {
  return access.chain.map((path, i) => ({ path, inode: access.inodes[i] ?? '' }));
}
