// Mount tables of mount namespaces that have no process, read by the namespace's 64-bit id through
// listmount(2)/statmount(2) (kernel/statmount.ts). Such a namespace is known to us by its nsfs inode (from the
// root of an nsfs bind, `mnt:[4026532177]`); the inode → id index comes from walking the kernel's list of mount
// namespaces (NS_MNT_GET_NEXT/PREV) from the server's own, so no path inside any namespace is opened and
// nothing is entered or executed, however deep the namespace is bound.
//
// On kernels without these calls (before 6.15) mounts/enter-read.ts reads through a helper exec'd from the
// host first; where that cannot run either, the namespace is reported unreadable with the reason in words.
// Never is a program found inside a namespace it did not create executed.
import { nsIdInode, type Mount } from '../../shared/api.js';
import { AppError } from '../errors.js';
import {
  loadMountNsReader,
  mountinfoLine,
  MountNsReadError,
  type MountNsReader,
  type StatMount,
} from '../kernel/statmount.js';
import { parseMountinfoLine } from './mountinfo.js';
import { assertPrivileged } from '../kernel/nsfs.js';

const ENOENT = 2;

let forcedMode: 'by-id' | 'enter' | null = null;

/**
 * How tables of processless namespaces are read here: 'by-id' (listmount/statmount, no process) where the
 * kernel has it, else 'enter' (mounts/enter-read.ts: a helper exec'd from the host, then entering). Never exec
 * after entering either way.
 */
export function processlessReadMode(): 'by-id' | 'enter' {
  return forcedMode ?? ('reader' in loadMountNsReader() ? 'by-id' : 'enter');
}

/** Tests run the older kernels' path on this one; null goes back to what the kernel offers. */
export function forceProcesslessReadMode(mode: 'by-id' | 'enter' | null): void {
  forcedMode = mode;
}

/** The reader, or AppError NOT_SUPPORTED saying what the kernel lacks. */
function reader(): MountNsReader {
  const r = loadMountNsReader();
  if ('reader' in r) return r.reader;
  throw new AppError(
    'NOT_SUPPORTED',
    `a mount namespace without processes cannot be read safely here: ${r.unavailable}`,
  );
}

/** nsfs inode → mount namespace id; rebuilt when an inode is missing or an id is gone (ids are never reused). */
let index = new Map<string, bigint>();
let indexedAt = 0;

/**
 * Per mount namespace id: unique ids of its mounts known not to be nsfs, so a re-read after a change stats
 * only the new mounts (500 shared-propagation namespaces and one new mount: 500 statmounts, not 15,000).
 */
const notNsfsByNs = new Map<bigint, Set<bigint>>();

/** The id of mount namespace `mntId` (`mnt:4026532177`). AppError NS_NOT_FOUND when no such namespace exists. */
export function mountNsIdOf(mntId: string, opts: { fresh?: boolean } = {}): bigint {
  const inode = nsIdInode(mntId);
  const r = reader();
  let id = opts.fresh ? undefined : index.get(inode);
  if (id === undefined) {
    index = r.namespaceIds();
    indexedAt = Date.now();
    id = index.get(inode);
    const live = new Set(index.values());
    for (const nsId of notNsfsByNs.keys()) if (!live.has(nsId)) notNsfsByNs.delete(nsId); // dead namespaces
  }
  if (id === undefined) {
    // Without CAP_SYS_ADMIN the kernel lists only our own user namespace's mount namespaces: say that, not "gone".
    assertPrivileged(`reading the mount namespace ${mntId}, which has no process,`);
    throw new AppError('NS_NOT_FOUND', `the mount namespace ${mntId} is gone`);
  }
  return id;
}

/** When the index was last built (ms since the epoch); for tests and diagnostics. */
export function mountNsIndexAge(): number {
  return indexedAt;
}

/** Run `read` with the namespace's id; once more with a fresh index when the cached id turned out to be gone. */
function withNsId<T>(mntId: string, read: (r: MountNsReader, id: bigint) => T): T {
  const r = reader();
  for (const fresh of [false, true]) {
    const id = mountNsIdOf(mntId, { fresh });
    try {
      return read(r, id);
    } catch (err) {
      if (err instanceof MountNsReadError && err.errno === ENOENT) {
        if (!fresh) continue; // Swallow: a stale id (that namespace died and its inode was reused); look again
        throw new AppError('NS_NOT_FOUND', `the mount namespace ${mntId} is gone`);
      }
      if (err instanceof MountNsReadError)
        throw new AppError('KERNEL_ERROR', `reading the mount table of ${mntId} failed: ${err.message}`);
      throw err;
    }
  }
  throw new AppError('NS_NOT_FOUND', `the mount namespace ${mntId} is gone`);
}

/**
 * Largest table of a namespace without processes that is read (one statmount per mount, ~10–50 µs each): the
 * walkthrough's tables have dozens of mounts and the benchmark's largest 5,000; past this a read would hold
 * the server for seconds, so it is refused in words instead.
 */
export const MAX_PROCESSLESS_TABLE_MOUNTS = 10_000;
/** Mounts read between yields to the event loop: a few ms at a time, so keystrokes keep flowing. */
const STATMOUNTS_PER_TURN = 500;

/** The namespace's table as /proc/PID/mountinfo text, exactly what a process at its root would read. */
export async function readProcesslessMountinfo(mntId: string): Promise<Buffer> {
  const { r, nsId, ids } = withNsId(mntId, (r, nsId) => ({ r, nsId, ids: r.listMounts(nsId) }));
  if (ids.length > MAX_PROCESSLESS_TABLE_MOUNTS) {
    throw new AppError(
      'NOT_SUPPORTED',
      `${mntId} has ${ids.length} mounts; tables of namespaces without processes are read up to ${MAX_PROCESSLESS_TABLE_MOUNTS}`,
    );
  }
  const lines: Buffer[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (i > 0 && i % STATMOUNTS_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      const m = r.statMount(nsId, ids[i] as bigint);
      if (m) lines.push(mountinfoLine(m)); // null: unmounted since it was listed, as a later read would show
    } catch (err) {
      if (err instanceof MountNsReadError)
        throw new AppError('KERNEL_ERROR', `reading the mount table of ${mntId} failed: ${err.message}`);
      throw err;
    }
  }
  return Buffer.concat(lines);
}

/**
 * The nsfs bind mounts among the namespace's first `limit` mounts, as the mountinfo parser would give them;
 * `examined` of `total` mounts were looked at (one statmount each).
 */
export function processlessNsfsMounts(
  mntId: string,
  limit?: number,
): { mounts: Mount[]; examined: number; total: number } {
  return withNsId(mntId, (r, id) => {
    const found = r.nsfsMounts(id, limit, notNsfsByNs.get(id));
    notNsfsByNs.set(id, found.notNsfs);
    return {
      mounts: found.nsfs.map((m) => parseMountinfoLine(lineOf(m))),
      examined: found.examined,
      total: found.total,
    };
  });
}

/** One statmount row → the same line /proc/PID/mountinfo has (without its newline). */
function lineOf(m: StatMount): string {
  const line = mountinfoLine(m);
  return line.subarray(0, line.length - 1).toString('utf8');
}
