// The ns-dir, opened once and safely, then used only through its fd (issues #15.4, #16.7). Root bind-mounts and
// creates files there, so no other user may be able to redirect any of it:
// - the path is walked one component at a time from `/`, each opened relative to the one before with O_NOFOLLOW,
//   and each checked on the opened fd: a directory owned by root or us, writable by nobody else unless sticky
//   (/tmp); a symlink on the way (/var/run → /run) is followed only when root or we own it; the ns-dir itself
//   is a real directory of ours that nobody else can write;
// - everything after that goes through the fd: `/proc/self/fd/N/NAME` in this process, `/proc/PID/fd/N/NAME`
//   for a helper, and the mount API on the fd itself, so nothing resolves the path string again.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';
import { loadMountApi, MountApiError } from '../kernel/mount-api.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import { run, type HelperPids } from '../proc/run.js';

/** The kernel's own bound on symlinks in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;
const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const S_ISVTX = 0o1000;
const GROUP_OR_OTHER_WRITE = 0o022;

/** An opened, verified ns-dir. `path` is what it was reached by (canonical, for messages and mountinfo). */
export class NsDirHandle {
  constructor(
    public fd: number,
    readonly path: string,
  ) {}

  /** NAME in the ns-dir, for this process: resolves through the fd, never through the path. */
  entry(name: string): string {
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  /** NAME in the ns-dir for a helper we spawn: our fd, seen from the child (root may follow our fd links). */
  helperEntry(name: string): string {
    return `/proc/${process.pid}/fd/${this.fd}${name ? '/' + name : ''}`;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function unsafe(nsDir: string, why: string): AppError {
  return new AppError('NS_DIR_UNSAFE', `refusing ns-dir ${nsDir}: ${why}`);
}

function cannotCreate(nsDir: string, at: string, e: NodeJS.ErrnoException): AppError {
  const why =
    e.code === 'EROFS'
      ? `${path.dirname(at)} is on a read-only file system (EROFS); choose a writable --ns-dir`
      : e.code === 'EACCES' || e.code === 'EPERM'
        ? `permission denied creating ${at} (${e.code})`
        : `mkdir ${at}: ${e.code ?? e.message}`;
  return new AppError('KERNEL_ERROR', `cannot create the ns-dir ${nsDir}: ${why}`, { cause: e });
}

/**
 * Open the ns-dir as described above; null when it does not exist and `create` is false. With `create`, missing
 * directories are made (mode 0700) one at a time, each checked like an existing one. AppError NS_DIR_UNSAFE when
 * a check fails, KERNEL_ERROR (naming the real cause, e.g. a read-only file system) when it cannot be made.
 */
export function openNsDir(nsDir: string, opts: { create: boolean }): NsDirHandle | null {
  if (!path.isAbsolute(nsDir)) throw unsafe(nsDir, 'it is not an absolute path');
  const uid = process.getuid?.() ?? 0;
  const trusted = (owner: number) => owner === 0 || owner === uid;
  const todo = path.resolve(nsDir).split('/').filter(Boolean);
  let fd = openSync('/', O_DIR);
  let walked: string[] = [];
  let symlinks = 0;
  try {
    for (;;) {
      const st = fstatSync(fd);
      const here = '/' + walked.join('/');
      const last = todo.length === 0;
      if (!st.isDirectory()) throw unsafe(nsDir, `${here} is not a directory`);
      if (last) {
        if (st.uid !== uid) throw unsafe(nsDir, `it is owned by uid ${st.uid}, not by us`);
        if (st.mode & GROUP_OR_OTHER_WRITE) throw unsafe(nsDir, 'it is writable by group or others');
        return new NsDirHandle(fd, here);
      }
      if (!trusted(st.uid)) throw unsafe(nsDir, `${here} is owned by uid ${st.uid}`);
      if (st.mode & GROUP_OR_OTHER_WRITE && !(st.mode & S_ISVTX))
        throw unsafe(nsDir, `${here} is writable by others and not sticky`);

      const name = todo.shift() as string;
      if (name === '.') continue;
      const at = path.join(here, name);
      let child: number;
      try {
        child = openSync(`/proc/self/fd/${fd}/${name}`, O_DIR);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && opts.create) {
          try {
            mkdirSync(`/proc/self/fd/${fd}/${name}`, { mode: 0o700 });
          } catch (m) {
            // EEXIST: someone made it meanwhile; the open below checks what it is like any existing one.
            if ((m as NodeJS.ErrnoException).code !== 'EEXIST')
              throw cannotCreate(nsDir, at, m as NodeJS.ErrnoException);
          }
          todo.unshift(name);
          continue;
        }
        if (code === 'ENOENT') return null;
        if (code !== 'ELOOP' && code !== 'ENOTDIR') throw e;
        const link = lstatSync(`/proc/self/fd/${fd}/${name}`);
        if (!link.isSymbolicLink()) throw unsafe(nsDir, `${at} is not a directory`);
        if (todo.length === 0) throw unsafe(nsDir, 'it is a symbolic link');
        // Nobody else can replace this link: its directory passed the checks above, and it is root's or ours.
        if (!trusted(link.uid)) throw unsafe(nsDir, `${at} is a symbolic link owned by uid ${link.uid}`);
        if (++symlinks > MAX_SYMLINKS) throw unsafe(nsDir, 'too many levels of symbolic links');
        const target = readlinkSync(`/proc/self/fd/${fd}/${name}`);
        todo.unshift(...target.split('/').filter(Boolean));
        if (target.startsWith('/')) {
          closeSync(fd);
          fd = -1; // closed: the catch below must not close it again if the open throws
          fd = openSync('/', O_DIR);
          walked = [];
        }
        continue;
      }
      closeSync(fd);
      fd = child;
      if (name === '..') walked.pop();
      else walked.push(name);
    }
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    throw e;
  }
}

function mountIdOf(fd: number): number {
  const m = /^mnt_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new AppError('KERNEL_ERROR', `no mnt_id in /proc/self/fdinfo/${fd}`);
  return Number(m[1]);
}

/** Whether the fd's directory is the root of the mount it is on, and that mount's propagation. */
function mountState(fd: number): { root: boolean; private: boolean } {
  const id = mountIdOf(fd);
  const parent = openSync(`/proc/self/fd/${fd}/..`, O_DIR);
  let root: boolean;
  try {
    root = mountIdOf(parent) !== id; // `..` of a mount's root is on the mount below
  } finally {
    closeSync(parent);
  }
  const mount = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).find((m) => m.id === id);
  return { root, private: mount?.propagation === 'private' };
}

function mountError(e: unknown, what: string, dir: string): AppError {
  if (!(e instanceof MountApiError))
    return new AppError('KERNEL_ERROR', `${what} failed: ${(e as Error).message}`, { cause: e });
  if (e.code === 'EPERM' || e.code === 'EACCES')
    return new AppError(
      'NOT_PRIVILEGED',
      `${what} failed: not permitted — run nsconsole as root with CAP_SYS_ADMIN (${e.code})`,
    );
  return new AppError('KERNEL_ERROR', `${what} on ${dir} failed: ${e.message}`, { cause: e });
}

/**
 * `unshare --mount=FILE` fails with EINVAL unless FILE's mount is private (else the new namespace would see its
 * own nsfs bind through propagation). Make the ns-dir a private mount point — a bind of itself when it is not a
 * mount point yet, or just private when it is one with another propagation — and point the handle at that
 * mount's root. By fd through the mount API; where the kernel or libc lacks it, mount(8) on our fd's /proc path
 * with --no-canonicalize, then the ns-dir opened again by the same checked walk.
 */
export async function ensurePrivateMountPoint(dir: NsDirHandle, nsDir: string, helperPids: HelperPids): Promise<void> {
  let state = mountState(dir.fd);
  if (state.root && state.private) return;
  const api = loadMountApi();
  try {
    if (api && !state.root) {
      const tree = api.cloneTree(dir.fd);
      try {
        api.moveMount(tree, dir.fd);
      } catch (e) {
        closeSync(tree);
        throw e;
      }
      // The attached tree's fd is the new mount's root: the handle moves to it (the old fd is under it now).
      closeSync(dir.fd);
      dir.fd = tree;
    }
    // Private only once attached: attaching under a shared parent would make the new mount shared again.
    if (api) api.makePrivate(dir.fd);
  } catch (e) {
    if (!(e instanceof MountApiError && e.code === 'ENOSYS'))
      throw mountError(e, `making the ns-dir ${dir.path} a private mount`, dir.path);
    await fallbackPrivate(dir, nsDir, mountState(dir.fd).root, helperPids); // an older kernel: part may be done
  }
  if (!api) await fallbackPrivate(dir, nsDir, state.root, helperPids);
  state = mountState(dir.fd);
  if (!state.root || !state.private)
    throw new AppError('KERNEL_ERROR', `the ns-dir ${dir.path} is still not a private mount point`);
}

async function fallbackPrivate(
  dir: NsDirHandle,
  nsDir: string,
  isRoot: boolean,
  helperPids: HelperPids,
): Promise<void> {
  const mount = async (args: string[]) => {
    const r = await run('mount', ['--no-canonicalize', ...args], { helperPids });
    if (r.code !== 0)
      throw new AppError('KERNEL_ERROR', `making the ns-dir ${dir.path} a private mount failed: ${r.stderr.trim()}`);
  };
  if (!isRoot) {
    await mount(['--bind', dir.helperEntry(''), dir.helperEntry('')]);
    // Our fd still names the directory under the new bind; the same checked walk reaches the bind's root.
    const again = openNsDir(nsDir, { create: false });
    if (!again) throw new AppError('KERNEL_ERROR', `the ns-dir ${dir.path} vanished while it was being bound`);
    const a = fstatSync(again.fd);
    const b = fstatSync(dir.fd);
    if (a.ino !== b.ino || a.dev !== b.dev) {
      again.close();
      throw unsafe(nsDir, 'it changed while it was being bound');
    }
    closeSync(dir.fd);
    dir.fd = again.fd;
  }
  await mount(['--make-private', dir.helperEntry('')]);
}

/** umount2(2) of NAME in the ns-dir through the fd; umount(8) --no-canonicalize where the binding is missing. */
export async function unmountEntry(
  dir: NsDirHandle,
  name: string,
  helperPids: HelperPids,
): Promise<{ ok: true } | { ok: false; stderr: string }> {
  const api = loadMountApi();
  if (api) {
    try {
      api.unmount(dir.entry(name));
      return { ok: true };
    } catch (e) {
      if (!(e instanceof MountApiError)) throw e;
      return {
        ok: false,
        stderr: e.code === 'EBUSY' ? 'target is busy' : e.code === 'EPERM' ? 'Operation not permitted' : e.message,
      };
    }
  }
  const r = await run('umount', ['--no-canonicalize', dir.helperEntry(name)], { helperPids });
  return r.code === 0 ? { ok: true } : { ok: false, stderr: r.stderr };
}
