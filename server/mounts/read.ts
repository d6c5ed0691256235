// Reading one mount namespace's mountinfo. With a process in it: open/read/close /proc/PID/mountinfo (never
// kept open: an open mountinfo fd pins the namespace after its last process exits). Without one: a short-lived
// `nsenter --mount=PATH -- cat /proc/self/mountinfo` that we wait for, so no helper is left behind.
import { closeSync, openSync, readSync } from 'node:fs';
import { AppError } from '../http/errors.js';
import { run, type HelperPids } from '../namespaces/run.js';
import { TABLE_READ_CAPS, type ReadCut, type ScanPool } from '../namespaces/scan-pool.js';

/** How to reach a mount namespace's table. */
export type MountNsAccess =
  | { kind: 'self' }
  /** processes in it, ascending; the first one still there and still in it answers */
  | { kind: 'pids'; pids: readonly number[] }
  /**
   * nsfs paths to enter one after another: chain[0] is resolved in the server's mount namespace, chain[1]
   * inside the namespace chain[0] leads to, and so on (a persisted namespace bound only inside another one).
   */
  | { kind: 'chain'; chain: readonly string[] };

/** Deeper nesting than this is a curiosity, not a lab setup; stop there rather than spawn long nsenter chains. */
export const MAX_CHAIN_DEPTH = 4;

/** How many PIDs to try before giving up on a namespace whose processes keep exiting under us. */
const MAX_PID_ATTEMPTS = 8;

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
export async function readMountinfoOfPids(pool: ScanPool, pids: readonly number[] | null, mntId: string): Promise<(MountinfoRead & { pid: number | null }) | null> {
  const [r] = await pool.mountinfo([{ mnt: mntId, pids }], MAX_PID_ATTEMPTS);
  if (!r) return null;
  const raw = Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength);
  return r.cut ? { pid: r.pid, raw, cut: r.cut, ms: r.ms } : { pid: r.pid, raw, ms: r.ms };
}

export function chainArgv(chain: readonly string[]): string[] {
  const argv: string[] = [];
  for (const path of chain) argv.push('nsenter', `--mount=${path}`, '--');
  argv.push('cat', '/proc/self/mountinfo');
  return argv;
}

/** Enter the chain with nsenter and cat mountinfo there. Throws AppError with a plain-words reason. */
export async function readMountinfoViaChain(chain: readonly string[], helperPids: HelperPids): Promise<string> {
  if (chain.length === 0 || chain.length > MAX_CHAIN_DEPTH) throw new AppError('NOT_SUPPORTED', `cannot reach a mount namespace nested ${chain.length} levels deep`);
  const [file, ...args] = chainArgv(chain) as [string, ...string[]];
  const result = await run(file, args, { helperPids });
  if (result.code === 0) return result.stdout;
  const stderr = result.stderr.trim();
  if (/Operation not permitted|Permission denied/i.test(stderr)) {
    throw new AppError('NOT_PRIVILEGED', `entering the mount namespace at ${chain.join(' → ')} needs root (CAP_SYS_ADMIN): ${stderr}`);
  }
  if (/No such file|Invalid argument/i.test(stderr)) {
    throw new AppError('NS_NOT_FOUND', `the namespace bound at ${chain.join(' → ')} is gone: ${stderr}`);
  }
  throw new AppError('KERNEL_ERROR', `reading the mount table at ${chain.join(' → ')} failed (exit ${result.code}): ${stderr || 'no message'}`);
}

/**
 * The table behind `access`, as bytes (within TABLE_READ_CAPS); AppError NS_NOT_FOUND when every process left
 * and nothing else reaches it.
 */
export async function readMountinfoRaw(access: MountNsAccess, mntId: string, helperPids: HelperPids, pool: ScanPool): Promise<MountinfoRead> {
  if (access.kind === 'chain') return capText(await readMountinfoViaChain(access.chain, helperPids));
  const found = await readMountinfoOfPids(pool, access.kind === 'self' ? null : access.pids, mntId);
  if (!found) throw new AppError('NS_NOT_FOUND', `no process is in ${mntId} any more`);
  const read: MountinfoRead = { raw: found.raw, ms: found.ms };
  if (found.cut) read.cut = found.cut;
  return read;
}

/** A helper's output held to the same byte cap as a /proc read: whole lines up to TABLE_READ_CAPS.maxBytes. */
function capText(text: string): MountinfoRead {
  const raw = Buffer.from(text, 'utf8');
  if (raw.length <= TABLE_READ_CAPS.maxBytes) return { raw };
  return { raw: raw.subarray(0, raw.lastIndexOf(10, TABLE_READ_CAPS.maxBytes - 1) + 1), cut: 'bytes' };
}
