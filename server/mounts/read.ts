// Reading one mount namespace's mountinfo. With a process in it: open/read/close /proc/PID/mountinfo (never
// kept open: an open mountinfo fd pins the namespace after its last process exits). Without one: a short-lived
// `nsenter --mount=PATH -- cat /proc/self/mountinfo` that we wait for, so no helper is left behind.
import { closeSync, openSync, readSync } from 'node:fs';
import { AppError } from '../http/errors.js';
import { readNsLink } from '../namespaces/discovery.js';
import { run, type HelperPids } from '../namespaces/run.js';

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

/** The table behind `access`, as bytes; AppError NS_NOT_FOUND when every process left and nothing else reaches it. */
export async function readMountinfoRaw(access: MountNsAccess, mntId: string, helperPids: HelperPids): Promise<Buffer> {
  if (access.kind === 'self') return readProcFile('/proc/self/mountinfo');
  if (access.kind === 'chain') return Buffer.from(await readMountinfoViaChain(access.chain, helperPids), 'utf8');
  const found = readMountinfoOfPids(access.pids, mntId);
  if (!found) throw new AppError('NS_NOT_FOUND', `no process is in ${mntId} any more`);
  return found.raw;
}

/** Text of the table behind `access`. */
export async function readMountinfo(access: MountNsAccess, mntId: string, helperPids: HelperPids): Promise<string> {
  return (await readMountinfoRaw(access, mntId, helperPids)).toString('utf8');
}
