// The new mount API (open_tree, move_mount, mount_setattr; Linux 5.2 / 5.12) and umount2, through koffi: mount
// operations on opened directory fds, so that nothing re-resolves a path between a check and its use. Loaded
// once; null where it cannot be (no glibc with these wrappers), and each call may still fail with ENOSYS on an
// older kernel: callers fall back (server/namespaces/ns-dir.ts).
import koffi from 'koffi';
import { constants } from 'node:os';

/** <linux/mount.h> and <fcntl.h> values (the same on every architecture Node runs on). */
const AT_EMPTY_PATH = 0x1000;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000; // = O_CLOEXEC
const MOVE_MOUNT_F_EMPTY_PATH = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH = 0x40;
const MS_PRIVATE = 1n << 18n;
const UMOUNT_NOFOLLOW = 0x8;
/** sizeof(struct mount_attr): attr_set, attr_clr, propagation, userns_fd — four u64 (MOUNT_ATTR_SIZE_VER0). */
const MOUNT_ATTR_SIZE = 32;
const PROPAGATION_OFFSET = 16;

export class MountApiError extends Error {
  override name = 'MountApiError';
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: ${errnoName(errno)}`);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

export interface MountApi {
  /** A detached bind (clone) of the directory `dirFd` refers to; close the returned fd when done. */
  cloneTree(dirFd: number): number;
  /** Attach the detached tree `treeFd` on top of the directory `targetFd` refers to. */
  moveMount(treeFd: number, targetFd: number): void;
  /** Make the mount whose root `mountRootFd` refers to private (EINVAL when it is not a mount's root). */
  makePrivate(mountRootFd: number): void;
  /** umount2(path, UMOUNT_NOFOLLOW) */
  unmount(path: string): void;
}

let loaded: MountApi | null | undefined;

export function loadMountApi(): MountApi | null {
  if (loaded !== undefined) return loaded;
  try {
    const lib = koffi.load('libc.so.6');
    const openTree = lib.func('int open_tree(int dfd, const char *path, unsigned int flags)');
    const moveMount = lib.func(
      'int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)',
    );
    const mountSetattr = lib.func(
      'int mount_setattr(int dfd, const char *path, unsigned int flags, void *attr, size_t size)',
    );
    const umount2 = lib.func('int umount2(const char *target, int flags)');
    const check = (call: string, r: number): number => {
      if (r < 0) throw new MountApiError(call, koffi.errno());
      return r;
    };
    loaded = {
      cloneTree: (dirFd) =>
        check('open_tree', openTree(dirFd, '', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH) as number),
      moveMount(treeFd, targetFd) {
        check(
          'move_mount',
          moveMount(treeFd, '', targetFd, '', MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) as number,
        );
      },
      makePrivate(mountRootFd) {
        const attr = Buffer.alloc(MOUNT_ATTR_SIZE);
        attr.writeBigUInt64LE(MS_PRIVATE, PROPAGATION_OFFSET);
        check('mount_setattr', mountSetattr(mountRootFd, '', AT_EMPTY_PATH, attr, MOUNT_ATTR_SIZE) as number);
      },
      unmount(path) {
        check('umount2', umount2(path, UMOUNT_NOFOLLOW) as number);
      },
    };
  } catch {
    loaded = null; // Swallow: no glibc 2.36 wrappers here; ns-dir.ts falls back to mount(8)/umount(8)
  }
  return loaded;
}
