// Create and delete persisted mount namespaces, the walkthrough's way, with the kernel's errors explained:
//   mkdir NSDIR; mount --bind --make-private NSDIR NSDIR; touch NSDIR/NAME; unshare --mount=NSDIR/NAME true
// and back: umount NSDIR/NAME; rm NSDIR/NAME.
import { lstat, mkdir, open, realpath, stat, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NS_NAME_PATTERN, type CreateNamespaceRequest } from '../../shared/api.js';
import { AppError } from '../http/errors.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import { run, type HelperPids } from './run.js';

const CAP_SYS_ADMIN = 21n;
/**
 * Binding a mount namespace's nsfs file is refused (EINVAL) unless the namespace is newer than the binder's:
 * the kernel's loop check compares namespace sequence ids. On 6.18 those ids are handed out in per-CPU batches
 * and are not always increasing, so persisting from a non-initial mount namespace (a server in a container)
 * fails about one time in ten with a private ns-dir (measured here: 12 of 120, nested). A fresh namespace
 * gets a fresh id, so trying again succeeds.
 */
const PERSIST_ATTEMPTS = 5;
/** A stack of this many nsfs binds on one file is not something nsconsole made; stop unmounting there. */
const MAX_UNMOUNTS_PER_PATH = 8;

/** Creating and deleting namespaces needs CAP_SYS_ADMIN; say so plainly instead of relaying EPERM. */
export function assertPrivileged(action: string): void {
  let capEff = 0n;
  try {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    capEff = line ? BigInt('0x' + (line[1] as string)) : 0n;
  } catch {
    // Swallow: no /proc/self/status means we cannot tell; treat as unprivileged.
  }
  if (((capEff >> CAP_SYS_ADMIN) & 1n) === 0n) {
    const uid = process.getuid?.() ?? -1;
    throw new AppError('NOT_PRIVILEGED', `${action} needs root (CAP_SYS_ADMIN); nsconsole runs as uid ${uid} without it`);
  }
}

/** Plain words for what mount(8)/umount(8)/unshare(1) report, keyed by the errno text they print. */
export function explainKernelError(stderr: string, what: string, nsDir: string): AppError {
  const msg = stderr.trim().replace(/\s+/g, ' ') || 'no message';
  if (/Invalid argument/i.test(msg)) {
    return new AppError('KERNEL_ERROR', `${what} failed: the kernel refused (EINVAL). Most often the ns-dir ${nsDir} sits on a shared mount, so a mount namespace cannot be persisted there; it must be a private mount. (${msg})`);
  }
  if (/Operation not permitted|Permission denied/i.test(msg)) {
    return new AppError('NOT_PRIVILEGED', `${what} failed: not permitted — run nsconsole as root with CAP_SYS_ADMIN (${msg})`);
  }
  if (/busy/i.test(msg)) {
    return new AppError('NS_BUSY', `${what} failed: the target is busy (EBUSY) — something is mounted on it or uses it (${msg})`);
  }
  return new AppError('KERNEL_ERROR', `${what} failed: ${msg}`);
}

/** The server's own mounts whose mount point is exactly `target`, bottom first. */
function mountsAt(target: string) {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.target === target);
}

/**
 * `unshare --mount=FILE` fails with EINVAL unless FILE's mount is private (else the new namespace would see its
 * own nsfs bind through propagation). Make the ns-dir a private mount point: a bind of itself when it is not a
 * mount point yet, or just --make-private when it is one with another propagation.
 */
async function ensurePrivateMountPoint(dir: string, helperPids: HelperPids): Promise<void> {
  const top = mountsAt(dir).at(-1);
  if (top?.propagation === 'private') return;
  const args = top ? ['--make-private', dir] : ['--bind', '--make-private', dir, dir];
  const r = await run('mount', args, { helperPids });
  if (r.code !== 0) throw explainKernelError(r.stderr, `making the ns-dir ${dir} a private mount`, dir);
  if (mountsAt(dir).at(-1)?.propagation !== 'private') {
    throw new AppError('KERNEL_ERROR', `the ns-dir ${dir} is still not a private mount after mount --make-private`);
  }
}

export interface Created {
  id: string;
  path: string;
}

/** Serialises creates and deletes: two of them binding the ns-dir at once would stack two binds. */
export class Lifecycle {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly nsDir: string,
    private readonly helperPids: HelperPids,
  ) {}

  /** The ns-dir's real path, or null when it does not exist yet (then nothing is ours). */
  async realNsDir(): Promise<string | null> {
    try {
      return await realpath(this.nsDir);
    } catch {
      return null;
    }
  }

  create(req: CreateNamespaceRequest): Promise<Created> {
    return this.serialised(() => this.createNow(req));
  }

  /** Unmount every nsfs bind at `paths` (all under the ns-dir) and remove the files. */
  remove(paths: readonly string[]): Promise<void> {
    return this.serialised(() => this.removeNow(paths));
  }

  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    // Keep the chain alive whatever this task does; callers see their own result.
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async createNow(req: CreateNamespaceRequest): Promise<Created> {
    if (!NS_NAME_PATTERN.test(req.name)) throw new AppError('BAD_NAME', 'name must be 1-64 of A-Z a-z 0-9 . _ - and not start with a dot');
    assertPrivileged('creating a namespace');
    try {
      await mkdir(this.nsDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new AppError('KERNEL_ERROR', `cannot create the ns-dir ${this.nsDir}: ${(e as Error).message}`, { cause: e });
    }
    await assertSafeNsDir(this.nsDir);
    const dir = await realpath(this.nsDir);
    await ensurePrivateMountPoint(dir, this.helperPids);
    const file = path.join(dir, req.name);
    try {
      // O_EXCL: the existence check and the creation are one step, so two creates cannot both win.
      await (await open(file, 'wx', 0o600)).close();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AppError('NS_EXISTS', `a namespace named ${req.name} already exists in ${dir}`);
      throw new AppError('KERNEL_ERROR', `cannot create ${file}: ${(e as Error).message}`, { cause: e });
    }
    const propagation = req.propagation ?? 'private';
    let r = await run('unshare', [`--mount=${file}`, '--propagation', propagation, '--', 'true'], { helperPids: this.helperPids });
    for (let attempt = 1; attempt < PERSIST_ATTEMPTS && r.code !== 0 && /Invalid argument/i.test(r.stderr); attempt++) {
      r = await run('unshare', [`--mount=${file}`, '--propagation', propagation, '--', 'true'], { helperPids: this.helperPids });
    }
    if (r.code !== 0) {
      await unlink(file).catch(() => undefined); // Swallow: the file is empty and not mounted; nothing to lose.
      throw explainKernelError(r.stderr, `persisting a new mount namespace at ${file}`, dir);
    }
    // The nsfs bind's inode is the namespace's inode.
    const { ino } = await stat(file, { bigint: true });
    return { id: `mnt:${ino}`, path: file };
  }

  private async removeNow(paths: readonly string[]): Promise<void> {
    assertPrivileged('deleting a namespace');
    const dir = await this.realNsDir();
    for (const p of paths) {
      if (!dir || !p.startsWith(dir + '/')) throw new AppError('NS_NOT_OURS', `${p} is not under the ns-dir ${this.nsDir}`);
      for (let i = 0; i < MAX_UNMOUNTS_PER_PATH && mountsAt(p).some((m) => m.fstype === 'nsfs'); i++) {
        const r = await run('umount', [p], { helperPids: this.helperPids });
        if (r.code !== 0) throw explainKernelError(r.stderr, `unmounting ${p}`, dir);
      }
      if (mountsAt(p).length > 0) throw new AppError('NS_BUSY', `${p} still has mounts on it that are not nsfs binds; unmount them first`);
      await unlink(p).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw new AppError('KERNEL_ERROR', `unmounted, but cannot remove ${p}: ${e.message}`, { cause: e });
      });
    }
  }
}

/**
 * Root bind-mounts and creates files in the ns-dir by path, so nobody else may be able to swap it or anything
 * in it for a symlink (e.g. `--ns-dir /tmp/x` pre-created by another user as a link to /etc). The dir itself:
 * a real directory of ours, writable by nobody else. Its ancestors (symlinks resolved — /var/run → /run is
 * fine): owned by root or us, and not writable by others unless sticky (/tmp).
 */
export async function assertSafeNsDir(nsDir: string): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  const refuse = (why: string) => new AppError('KERNEL_ERROR', `refusing ns-dir ${nsDir}: ${why}`);
  const st = await lstat(nsDir);
  if (st.isSymbolicLink()) throw refuse('it is a symbolic link');
  if (!st.isDirectory()) throw refuse('it is not a directory');
  if (st.uid !== uid) throw refuse(`it is owned by uid ${st.uid}, not by us`);
  if (st.mode & 0o022) throw refuse('it is writable by group or others');
  for (let dir = await realpath(path.dirname(path.resolve(nsDir))); ; dir = path.dirname(dir)) {
    const a = await stat(dir);
    if (a.uid !== 0 && a.uid !== uid) throw refuse(`${dir} is owned by uid ${a.uid}`);
    if (a.mode & 0o022 && !(a.mode & 0o1000)) throw refuse(`${dir} is writable by others and not sticky`);
    if (dir === path.dirname(dir)) break;
  }
}
