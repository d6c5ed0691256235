// Create and delete persisted mount namespaces, the walkthrough's way, with the kernel's errors explained:
//   mkdir NSDIR; mount --bind --make-private NSDIR NSDIR; touch NSDIR/NAME; unshare --mount=NSDIR/NAME true
// and back: umount NSDIR/NAME; rm NSDIR/NAME.
// Every operation opens the ns-dir through the same checked walk and then works on that fd (./ns-dir.ts), so a
// create and a delete apply the very same safety checks and nothing re-resolves a path another user could swap.
import { open, stat, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NS_NAME_PATTERN, type CreateNamespaceRequest } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import { ensurePrivateMountPoint, openNsDir, unmountEntry, type NsDirHandle } from './ns-dir.js';
import { run, type HelperPids } from '../proc/run.js';
import { assertPrivileged } from '../kernel/nsfs.js';

/**
 * Binding a mount namespace's nsfs file is refused (EINVAL) unless the namespace is newer than the binder's:
 * the kernel's loop check compares namespace sequence ids. On 6.18 those ids are handed out in per-CPU batches
 * and are not always increasing, so persisting from a non-initial mount namespace (a server in a container)
 * fails about one time in ten with a private ns-dir (measured here: 12 of 120, nested). A fresh namespace
 * gets a fresh id, so trying again succeeds — but a retry on the same CPU takes its id from the same batch,
 * and in a container the whole batch could be older than the container's namespace (the compose test failed
 * five retries in a row): after the first attempt, each retry is pinned to the next CPU we may run on.
 */
const PERSIST_ATTEMPTS = 5;
/** At most this many attempts whatever the CPU count (two rounds over up to 8 CPUs). */
const PERSIST_MAX_ATTEMPTS = 16;

/** The CPUs this process may run on, from /proc/self/status's Cpus_allowed_list (`0-3,8`); [] if unreadable. */
export function allowedCpus(status: string): number[] {
  const list = /^Cpus_allowed_list:\s*([0-9,-]+)/m.exec(status)?.[1] ?? '';
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    for (let c = a; c <= (b !== undefined && Number.isInteger(b) ? b : a) && cpus.length < 1024; c++) cpus.push(c);
  }
  return cpus;
}
/** A stack of this many nsfs binds on one file is not something nsconsole made; stop unmounting there. */
const MAX_UNMOUNTS_PER_PATH = 8;

/** Plain words for what mount(8)/umount(8)/unshare(1) report, keyed by the errno text they print. */
export function explainKernelError(stderr: string, what: string, nsDir: string): AppError {
  const msg = stderr.trim().replace(/\s+/g, ' ') || 'no message';
  if (/Invalid argument/i.test(msg)) {
    return new AppError(
      'KERNEL_ERROR',
      `${what} failed: the kernel refused (EINVAL). Most often the ns-dir ${nsDir} sits on a shared mount, so a mount namespace cannot be persisted there; it must be a private mount. (${msg})`,
    );
  }
  if (/Operation not permitted|Permission denied/i.test(msg)) {
    return new AppError(
      'NOT_PRIVILEGED',
      `${what} failed: not permitted — run nsconsole as root with CAP_SYS_ADMIN (${msg})`,
    );
  }
  if (/busy/i.test(msg)) {
    return new AppError(
      'NS_BUSY',
      `${what} failed: the target is busy (EBUSY) — something is mounted on it or uses it (${msg})`,
    );
  }
  return new AppError('KERNEL_ERROR', `${what} failed: ${msg}`);
}

/** The server's own mounts whose mount point is exactly `target`, bottom first. */
function mountsAt(target: string) {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.target === target);
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

  /**
   * The ns-dir's canonical path, reached by the checked walk; null when it does not exist yet (then nothing is
   * ours). AppError NS_DIR_UNSAFE when it fails a check: then nothing under it is ours to delete either.
   */
  async realNsDir(): Promise<string | null> {
    const dir = openNsDir(this.nsDir, { create: false });
    dir?.close();
    return dir?.path ?? null;
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
    if (!NS_NAME_PATTERN.test(req.name))
      throw new AppError('BAD_NAME', 'name must be 1-64 of A-Z a-z 0-9 . _ - and not start with a dot');
    assertPrivileged('creating a namespace');
    const dir = openNsDir(this.nsDir, { create: true }) as NsDirHandle;
    try {
      return await this.persistIn(dir, req);
    } finally {
      dir.close();
    }
  }

  private async persistIn(dir: NsDirHandle, req: CreateNamespaceRequest): Promise<Created> {
    await ensurePrivateMountPoint(dir, this.nsDir, this.helperPids);
    const file = path.join(dir.path, req.name);
    try {
      // O_EXCL: the existence check and the creation are one step, so two creates cannot both win (and an
      // existing symlink is never followed).
      await (await open(dir.entry(req.name), 'wx', 0o600)).close();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new AppError('NS_EXISTS', `a namespace named ${req.name} already exists in ${dir.path}`);
      throw new AppError('KERNEL_ERROR', `cannot create ${file}: ${(e as Error).message}`, { cause: e });
    }
    const propagation = req.propagation ?? 'private';
    // unshare(1) binds the new namespace onto the file through our fd (/proc/<us>/fd/N/NAME), not by path.
    const unshare = ['unshare', `--mount=${dir.helperEntry(req.name)}`, '--propagation', propagation, '--', 'true'];
    const cpus = allowedCpus(readFileSync('/proc/self/status', 'utf8'));
    const persist = (attempt: number) => {
      const cpu = attempt > 0 && cpus.length > 1 ? cpus[(attempt - 1) % cpus.length] : undefined;
      const [file, ...args] = cpu === undefined ? unshare : ['taskset', '--cpu-list', String(cpu), ...unshare];
      return run(file as string, args, { helperPids: this.helperPids });
    };
    const attempts = Math.min(PERSIST_MAX_ATTEMPTS, Math.max(PERSIST_ATTEMPTS, 2 * cpus.length + 1));
    let r = await persist(0);
    for (let attempt = 1; attempt < attempts && r.code !== 0 && /Invalid argument/i.test(r.stderr); attempt++)
      r = await persist(attempt);
    if (r.code !== 0) {
      await unlink(dir.entry(req.name)).catch(() => undefined); // Swallow: the file is empty and not mounted; nothing to lose.
      throw explainKernelError(r.stderr, `persisting a new mount namespace at ${file}`, dir.path);
    }
    // The nsfs bind's inode is the namespace's inode.
    const { ino } = await stat(dir.entry(req.name), { bigint: true });
    return { id: `mnt:${ino}`, path: file };
  }

  private async removeNow(paths: readonly string[]): Promise<void> {
    assertPrivileged('deleting a namespace');
    const dir = openNsDir(this.nsDir, { create: false });
    if (!dir)
      throw new AppError('NS_NOT_OURS', `the ns-dir ${this.nsDir} does not exist, so nothing is persisted there`);
    try {
      for (const p of paths) {
        const name = path.basename(p);
        if (path.dirname(p) !== dir.path || !NS_NAME_PATTERN.test(name))
          throw new AppError('NS_NOT_OURS', `${p} is not in the ns-dir ${dir.path}`);
        for (let i = 0; i < MAX_UNMOUNTS_PER_PATH && mountsAt(p).some((m) => m.fstype === 'nsfs'); i++) {
          const r = await unmountEntry(dir, name, this.helperPids);
          if (!r.ok) throw explainKernelError(r.stderr, `unmounting ${p}`, dir.path);
        }
        if (mountsAt(p).length > 0)
          throw new AppError('NS_BUSY', `${p} still has mounts on it that are not nsfs binds; unmount them first`);
        await unlink(dir.entry(name)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT')
            throw new AppError('KERNEL_ERROR', `unmounted, but cannot remove ${p}: ${e.message}`, { cause: e });
        });
      }
    } finally {
      dir.close();
    }
  }
}

/**
 * Refuse an ns-dir that another user could redirect (see ./ns-dir.ts for the checks); AppError NS_DIR_UNSAFE.
 * A missing one is an ENOENT error.
 */
export async function assertSafeNsDir(nsDir: string): Promise<void> {
  const dir = openNsDir(nsDir, { create: false });
  if (!dir) throw Object.assign(new Error(`ENOENT: no such ns-dir ${nsDir}`), { code: 'ENOENT' });
  dir.close();
}
