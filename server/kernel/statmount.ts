// Reading any mount namespace's table by its 64-bit id, from the server's own namespace: listmount(2) and
// statmount(2) with mnt_id_req.mnt_ns_id, and the mount namespace ids from nsfs ioctls. Nothing is entered,
// no path inside the namespace is resolved, no process is started: the namespace's owner controls nothing
// that runs. (The old way, `nsenter --mount=X -- cat /proc/self/mountinfo`, executed `cat` as found in X.)
//
// Kernel requirements (probed once; `loadMountNsReader` answers why not otherwise):
//   listmount/statmount (6.8) with mnt_ns_id (6.11), NS_MNT_GET_INFO/NEXT/PREV (6.12), statmount's
//   sb_source, fs_subtype (6.14) and supported_mask (6.15). x86_64 syscall numbers; other architectures share
//   the generic table's 457/458 for these two.
//
// The rows are rendered as /proc/PID/mountinfo lines (proc(5)), so the one parser reads both and every
// consumer sees identical Mount records: what a process at the namespace's root would read.
import { closeSync, fstatSync, openSync } from 'node:fs';
import koffi from 'koffi';
import { escapeMountinfo } from '../proc/mangle.js';

const SYS_STATMOUNT = 457;
const SYS_LISTMOUNT = 458;

// linux/nsfs.h: _IOR(0xb7, 10|11|12, struct mnt_ns_info) with the 16-byte struct mnt_ns_info.
const NS_MNT_GET_INFO = 0x8010b70a;
const NS_MNT_GET_NEXT = 0x8010b70b;
const NS_MNT_GET_PREV = 0x8010b70c;
const MNT_NS_INFO_SIZE = 16;

// linux/mount.h
const MNT_ID_REQ_SIZE_VER1 = 32;
const LSMT_ROOT = 0xffff_ffff_ffff_ffffn;
const STATMOUNT_SB_BASIC = 0x1;
const STATMOUNT_MNT_BASIC = 0x2;
const STATMOUNT_PROPAGATE_FROM = 0x4;
const STATMOUNT_MNT_ROOT = 0x8;
const STATMOUNT_MNT_POINT = 0x10;
const STATMOUNT_FS_TYPE = 0x20;
const STATMOUNT_MNT_OPTS = 0x80;
const STATMOUNT_FS_SUBTYPE = 0x100;
const STATMOUNT_SB_SOURCE = 0x200;
const STATMOUNT_SUPPORTED_MASK = 0x1000;
/** Everything a mountinfo line shows. */
const MOUNTINFO_MASK =
  STATMOUNT_SB_BASIC |
  STATMOUNT_MNT_BASIC |
  STATMOUNT_PROPAGATE_FROM |
  STATMOUNT_MNT_ROOT |
  STATMOUNT_MNT_POINT |
  STATMOUNT_FS_TYPE |
  STATMOUNT_MNT_OPTS |
  STATMOUNT_FS_SUBTYPE |
  STATMOUNT_SB_SOURCE;
/** Fixed part of struct statmount; strings follow it, at offsets relative to `str`. */
const STATMOUNT_FIXED = 512;
/** First statmount buffer: one mount's strings (paths, options) fit in a page almost always; EOVERFLOW doubles it. */
const STATMOUNT_INITIAL_BUF = 4096;
/** PATH_MAX-long root and mount point, page-long option strings and then some: past this a mount is not readable. */
const STATMOUNT_MAX_BUF = 1 << 20;
/** Mount ids asked for per listmount call. */
const LISTMOUNT_BATCH = 4096;
/** More mounts than fs.mount-max's default (100,000) allows in one namespace: stop listing there. */
const MAX_MOUNTS_PER_NS = 200_000;
/** Mount namespaces visited by one walk; far above anything but a machine being attacked. */
const MAX_NAMESPACES_PER_WALK = 100_000;

// mount_attr flags (MOUNT_ATTR_*) and superblock flags (SB_*), in the order mountinfo prints their words.
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_WORDS: readonly [number, string][] = [
  [0x2, 'nosuid'],
  [0x4, 'nodev'],
  [0x8, 'noexec'],
];
const MOUNT_ATTR__ATIME = 0x70;
const MOUNT_ATTR_NOATIME = 0x10;
const MOUNT_ATTR_RELATIME = 0x0;
const MOUNT_ATTR_NODIRATIME = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW = 0x20_0000;
const MOUNT_ATTR_IDMAP = 0x10_0000;
const SB_RDONLY = 0x1;
const SB_WORDS: readonly [number, string][] = [
  [0x10, 'sync'],
  [0x80, 'dirsync'],
  [0x200_0000, 'lazytime'],
];
const MS_SHARED = 1 << 20;
const MS_SLAVE = 1 << 19;
const MS_UNBINDABLE = 1 << 17;
/** NSFS_MAGIC: the superblock of nsfs bind mounts (`unshare --mount=FILE`, `ip netns add`). */
const NSFS_MAGIC = 0x6e73_6673n;

const EOVERFLOW = 75;
const ENOENT = 2;

export class MountNsReadError extends Error {
  override name = 'MountNsReadError';
  constructor(
    message: string,
    /** errno of the failing call; ENOENT (2) means the namespace or mount is gone */
    readonly errno: number,
  ) {
    super(message);
  }
}

/** One mount as statmount(2) reports it, with strings as raw bytes (the kernel does not promise UTF-8). */
export interface StatMount {
  id: number;
  parentId: number;
  uniqueId: bigint;
  devMajor: number;
  devMinor: number;
  sbMagic: bigint;
  root: Buffer;
  target: Buffer;
  fstype: Buffer;
  source: Buffer | null;
  /** mountinfo's per-mount options, e.g. `rw,nosuid,relatime` */
  options: string;
  /** mountinfo's super options, still escaped as mountinfo escapes them */
  superOptions: Buffer;
  /** mountinfo's optional fields, e.g. ['shared:1'] */
  tags: string[];
}

export interface MountNsReader {
  /** Every mount namespace on the machine: nsfs inode (decimal) → 64-bit mount namespace id. No exec, no entering. */
  namespaceIds(): Map<string, bigint>;
  /** The 64-bit id of the mount namespace behind an open nsfs fd. */
  idOfFd(fd: number): bigint;
  /** Ids of the mounts reachable from the namespace's root, in mountinfo's order. MountNsReadError (ENOENT) when it is gone. */
  listMounts(nsId: bigint): bigint[];
  /** One mount; null when it went away since it was listed. */
  statMount(nsId: bigint, mountId: bigint): StatMount | null;
  /**
   * Only the nsfs mounts (one cheap statmount per mount to tell them apart), among the first `limit` mounts.
   * `notNsfs` holds unique mount ids already known not to be nsfs (a mount's filesystem never changes and
   * unique ids are never reused): those are skipped, and the set is replaced by the ids known after this call.
   * `examined` counts the statmount calls made, `total` the namespace's mounts.
   */
  nsfsMounts(
    nsId: bigint,
    limit?: number,
    notNsfs?: Set<bigint>,
  ): { nsfs: StatMount[]; notNsfs: Set<bigint>; examined: number; total: number };
  /** The whole table as /proc/PID/mountinfo text of a process at the namespace's root. */
  mountinfo(nsId: bigint): Buffer;
}

interface Bindings {
  syscall4: (nr: number, a: Buffer, b: Buffer | null, c: number, d: number) => number | bigint;
  ioctl: (fd: number, req: number, arg: Buffer) => number;
  errno: () => number;
}

let loaded: { reader: MountNsReader } | { unavailable: string } | undefined;

/** The reader, or why this kernel cannot give one (the caller reports that in words, never falls back to exec). */
export function loadMountNsReader(): { reader: MountNsReader } | { unavailable: string } {
  if (loaded) return loaded;
  loaded = probe();
  return loaded;
}

function probe(): { reader: MountNsReader } | { unavailable: string } {
  if (process.arch !== 'x64' && process.arch !== 'arm64')
    return { unavailable: `listmount/statmount syscall numbers are not known for ${process.arch}` };
  let b: Bindings;
  try {
    const lib = koffi.load('libc.so.6');
    // syscall(2) and ioctl(2) are variadic; glibc implements both as plain register moves on these ABIs, so a
    // fixed prototype with integer and pointer arguments is the same call.
    const sys = lib.func('long syscall(long nr, void *a, void *b, unsigned long c, unsigned long d)');
    const ioctl = lib.func('int ioctl(int fd, unsigned long req, void *arg)');
    b = { syscall4: sys, ioctl, errno: () => koffi.errno() };
  } catch (err) {
    return { unavailable: `libc could not be loaded through koffi (${(err as Error).message})` };
  }
  const reader = new Reader(b);
  try {
    const self = openSync('/proc/self/ns/mnt', 'r');
    let selfId: bigint;
    try {
      selfId = reader.idOfFd(self);
    } finally {
      closeSync(self);
    }
    const first = reader.listMounts(selfId)[0];
    if (first === undefined) return { unavailable: 'listmount(2) listed no mounts in the server’s own namespace' };
    const supported = reader.supportedMask(selfId, first);
    const missing = MOUNTINFO_MASK & ~supported;
    if (missing !== 0)
      return {
        unavailable: `statmount(2) lacks fields 0x${missing.toString(16)} (sb_source and fs_subtype need Linux 6.14+)`,
      };
  } catch (err) {
    return {
      unavailable: `reading mount tables by namespace id needs Linux 6.15+ (listmount/statmount with mnt_ns_id, NS_MNT_GET_INFO, statmount supported_mask): ${(err as Error).message}`,
    };
  }
  return { reader };
}

class Reader implements MountNsReader {
  private readonly req = Buffer.alloc(MNT_ID_REQ_SIZE_VER1);
  private readonly info = Buffer.alloc(MNT_NS_INFO_SIZE);
  private ids = new BigUint64Array(LISTMOUNT_BATCH);
  private buf = Buffer.alloc(STATMOUNT_INITIAL_BUF);
  /** For string-less requests (the nsfs test): the kernel's cost grows with the buffer it is handed. */
  private readonly fixed = Buffer.alloc(STATMOUNT_FIXED);

  constructor(private readonly b: Bindings) {}

  idOfFd(fd: number): bigint {
    this.info.fill(0);
    if (this.b.ioctl(fd, NS_MNT_GET_INFO, this.info) < 0) throw this.error('ioctl(NS_MNT_GET_INFO)');
    return this.info.readBigUInt64LE(8);
  }

  namespaceIds(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    const start = openSync('/proc/self/ns/mnt', 'r');
    try {
      out.set(String(fstatSync(start).ino), this.idOfFd(start));
      for (const dir of [NS_MNT_GET_NEXT, NS_MNT_GET_PREV]) {
        let cur = start;
        try {
          while (out.size < MAX_NAMESPACES_PER_WALK) {
            this.info.fill(0);
            const next = this.b.ioctl(cur, dir, this.info);
            // ENOENT: the end of the list. Any other error ends this direction too: a partial index only means
            // that a namespace not in it is reported unreadable, never that something else is read.
            if (next < 0) break;
            if (cur !== start) closeSync(cur);
            cur = next;
            out.set(String(fstatSync(cur).ino), this.info.readBigUInt64LE(8));
          }
        } finally {
          if (cur !== start) closeSync(cur);
        }
      }
    } finally {
      closeSync(start);
    }
    return out;
  }

  listMounts(nsId: bigint): bigint[] {
    const out: bigint[] = [];
    let last = 0n;
    for (;;) {
      this.setReq(LSMT_ROOT, last, nsId);
      const n = Number(this.b.syscall4(SYS_LISTMOUNT, this.req, Buffer.from(this.ids.buffer), this.ids.length, 0));
      if (n < 0) throw this.error('listmount(2)');
      for (let i = 0; i < n; i++) out.push(this.ids[i] as bigint);
      if (n < this.ids.length || out.length >= MAX_MOUNTS_PER_NS) return out;
      last = this.ids[n - 1] as bigint;
    }
  }

  statMount(nsId: bigint, mountId: bigint): StatMount | null {
    const sm = this.stat(nsId, mountId, MOUNTINFO_MASK);
    return sm ? this.decode(sm) : null;
  }

  nsfsMounts(
    nsId: bigint,
    limit = MAX_MOUNTS_PER_NS,
    known: Set<bigint> = new Set(),
  ): { nsfs: StatMount[]; notNsfs: Set<bigint>; examined: number; total: number } {
    const out: StatMount[] = [];
    const notNsfs = new Set<bigint>();
    const ids = this.listMounts(nsId);
    let examined = 0;
    for (const id of ids.slice(0, limit)) {
      if (known.has(id)) {
        notNsfs.add(id);
        continue;
      }
      examined++;
      this.setReq(id, BigInt(STATMOUNT_SB_BASIC), nsId);
      if (Number(this.b.syscall4(SYS_STATMOUNT, this.req, this.fixed, this.fixed.length, 0)) < 0) {
        if (this.b.errno() === ENOENT) continue; // unmounted since it was listed
        throw this.error('statmount(2)');
      }
      if (this.fixed.readBigUInt64LE(24) !== NSFS_MAGIC) {
        notNsfs.add(id);
        continue;
      }
      const full = this.statMount(nsId, id);
      if (full) out.push(full);
    }
    return { nsfs: out, notNsfs, examined, total: ids.length };
  }

  mountinfo(nsId: bigint): Buffer {
    const lines: Buffer[] = [];
    for (const id of this.listMounts(nsId)) {
      const m = this.statMount(nsId, id);
      if (m) lines.push(mountinfoLine(m));
    }
    return Buffer.concat(lines);
  }

  supportedMask(nsId: bigint, mountId: bigint): number {
    const sm = this.stat(nsId, mountId, STATMOUNT_SUPPORTED_MASK);
    if (!sm || (Number(sm.readBigUInt64LE(8)) & STATMOUNT_SUPPORTED_MASK) === 0) return 0;
    return Number(sm.readBigUInt64LE(144) & 0xffff_ffffn);
  }

  /** The raw struct statmount (a view of the reused buffer: decode before the next call), or null if gone. */
  private stat(nsId: bigint, mountId: bigint, mask: number): Buffer | null {
    for (;;) {
      this.setReq(mountId, BigInt(mask), nsId);
      const r = Number(this.b.syscall4(SYS_STATMOUNT, this.req, this.buf, this.buf.length, 0));
      if (r >= 0) return this.buf;
      const errno = this.b.errno();
      if (errno === ENOENT) return null;
      if (errno !== EOVERFLOW || this.buf.length >= STATMOUNT_MAX_BUF) throw this.error('statmount(2)', errno);
      this.buf = Buffer.alloc(this.buf.length * 2);
    }
  }

  private setReq(mntId: bigint, param: bigint, nsId: bigint): void {
    this.req.fill(0);
    this.req.writeUInt32LE(MNT_ID_REQ_SIZE_VER1, 0);
    this.req.writeBigUInt64LE(mntId, 8);
    this.req.writeBigUInt64LE(param, 16);
    this.req.writeBigUInt64LE(nsId, 24);
  }

  private decode(sm: Buffer): StatMount {
    const mask = Number(sm.readBigUInt64LE(8));
    const str = (maskBit: number, offsetAt: number): Buffer | null => {
      if ((mask & maskBit) === 0) return null;
      const start = STATMOUNT_FIXED + sm.readUInt32LE(offsetAt);
      const end = sm.indexOf(0, start);
      return Buffer.from(sm.subarray(start, end < 0 ? sm.length : end));
    };
    const attr = Number(sm.readBigUInt64LE(64) & 0xffff_ffffn);
    const propagation = Number(sm.readBigUInt64LE(72) & 0xffff_ffffn);
    const tags: string[] = [];
    if (propagation & MS_SHARED) tags.push(`shared:${sm.readBigUInt64LE(80)}`);
    if (propagation & MS_SLAVE) {
      const master = sm.readBigUInt64LE(88);
      const from = sm.readBigUInt64LE(96);
      tags.push(`master:${master}`);
      if (from !== 0n && from !== master) tags.push(`propagate_from:${from}`);
    }
    if (propagation & MS_UNBINDABLE) tags.push('unbindable');
    const sbFlags = sm.readUInt32LE(32);
    const fsOpts = str(STATMOUNT_MNT_OPTS, 4);
    const superWords = [
      sbFlags & SB_RDONLY ? 'ro' : 'rw',
      ...SB_WORDS.filter(([bit]) => sbFlags & bit).map(([, w]) => w),
    ].join(',');
    const subtype = str(STATMOUNT_FS_SUBTYPE, 120);
    const fstype = str(STATMOUNT_FS_TYPE, 36) ?? Buffer.alloc(0);
    return {
      id: sm.readUInt32LE(56),
      parentId: sm.readUInt32LE(60),
      uniqueId: sm.readBigUInt64LE(40),
      devMajor: sm.readUInt32LE(16),
      devMinor: sm.readUInt32LE(20),
      sbMagic: sm.readBigUInt64LE(24),
      root: str(STATMOUNT_MNT_ROOT, 104) ?? Buffer.alloc(0),
      target: str(STATMOUNT_MNT_POINT, 108) ?? Buffer.alloc(0),
      fstype: subtype && subtype.length > 0 ? Buffer.concat([fstype, Buffer.from('.'), subtype]) : fstype,
      source: str(STATMOUNT_SB_SOURCE, 124),
      options: mountOptions(attr),
      superOptions:
        fsOpts && fsOpts.length > 0 ? Buffer.concat([Buffer.from(superWords + ','), fsOpts]) : Buffer.from(superWords),
      tags,
    };
  }

  private error(what: string, errno = this.b.errno()): MountNsReadError {
    return new MountNsReadError(`${what} failed: errno ${errno}`, errno);
  }
}

/** mountinfo's field 6 from MOUNT_ATTR_* flags, in show_mnt_opts' order. */
export function mountOptions(attr: number): string {
  const words = [attr & MOUNT_ATTR_RDONLY ? 'ro' : 'rw'];
  for (const [bit, word] of MOUNT_ATTR_WORDS) if (attr & bit) words.push(word);
  const atime = attr & MOUNT_ATTR__ATIME;
  if (atime === MOUNT_ATTR_NOATIME) words.push('noatime');
  if (attr & MOUNT_ATTR_NODIRATIME) words.push('nodiratime');
  if (atime === MOUNT_ATTR_RELATIME) words.push('relatime');
  if (attr & MOUNT_ATTR_NOSYMFOLLOW) words.push('nosymfollow');
  if (attr & MOUNT_ATTR_IDMAP) words.push('idmapped');
  return words.join(',');
}

/** mangle(): the kernel escapes space, tab, newline and backslash as \ooo; other bytes pass as they are. */
function mangle(raw: Buffer): Buffer {
  if (!raw.some((c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x5c)) return raw;
  return Buffer.from(escapeMountinfo(raw.toString('latin1')), 'latin1');
}

/** One /proc/PID/mountinfo line (proc(5)) for `m`, newline included. */
export function mountinfoLine(m: StatMount): Buffer {
  const tags = m.tags.length > 0 ? ' ' + m.tags.join(' ') : '';
  return Buffer.concat([
    Buffer.from(`${m.id} ${m.parentId} ${m.devMajor}:${m.devMinor} `),
    mangle(m.root),
    Buffer.from(' '),
    mangle(m.target),
    Buffer.from(` ${m.options}${tags} - `),
    mangle(m.fstype),
    Buffer.from(' '),
    // A mount made without a source has none in the kernel; mountinfo prints "none" for it.
    m.source && m.source.length > 0 ? mangle(m.source) : Buffer.from('none'),
    Buffer.from(' '),
    m.superOptions,
    Buffer.from('\n'),
  ]);
}
