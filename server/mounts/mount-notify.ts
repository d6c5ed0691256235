// Being told when a mount namespace's table changes, instead of re-reading it on a timer.
//
// Linux 6.15 added fanotify mount events: a mark on a mount namespace (FAN_MARK_MNTNS, made through any nsfs
// file of it: /proc/PID/ns/mnt or an nsfs bind) reports every mount attached to or detached from it, including
// by propagation and when the namespace dies (all its mounts detach). A mark does not pin the namespace — the
// kernel drops it with the namespace — so, unlike an open /proc/PID/mountinfo, watching never keeps a dead
// namespace alive. Node has no binding for fanotify or epoll; koffi (an FFI with prebuilt binaries) calls libc.
//
// Design: every tracker is one-shot. A fanotify group (an fd) carries the marks of one or more namespaces and is
// closed the first time it has an event; its trackers "fire" and whoever cares re-reads the table and tracks
// again (marking before reading, so no change falls between). One-shot groups need no event parsing, cannot
// confuse a dead namespace with a new one that got its inode number, and have no queue to overflow. The groups
// are heard through the EventWaiter (kernel/event-waiter.ts), so an idle server does nothing; sync() asks the
// kernel directly (one poll(2)) for readers that must not act on a stale cache.
//
// Not reported by the kernel: remounts (options) and propagation changes. Callers keep a slow re-read for those.
import { close, closeSync, fstatSync, openSync } from 'node:fs';
import { nsIdInode } from '../../shared/api.js';
import type { EventWaiter } from '../kernel/event-waiter.js';
import type { Libc } from '../kernel/libc.js';
import type { Logger } from '../log.js';
import type { MountNsAccess } from './read.js';
import { withVerifiedNsfs } from '../kernel/nsfs-open.js';

export interface MountTracker {
  /** true once the namespace's table changed (or it died) after track(), or the tracker was cancelled */
  readonly fired: boolean;
  cancel(): void;
}

export interface MountNotifier {
  /** false where the kernel has no mount events (before 6.15), without privilege, or without koffi */
  readonly available: boolean;
  /**
   * Tell `onFire` (once) when the mount namespace behind the nsfs file at `path` changes. The file must be the
   * namespace `inode` (checked on the open file, so a PID that moved elsewhere cannot mislead). Null when it
   * cannot be tracked: not that namespace any more, no mount events here, or out of fanotify groups.
   */
  track(path: string, inode: string, onFire?: () => void): MountTracker | null;
  /** Fire every tracker whose namespace changed up to now: one poll(2) over all groups. */
  sync(): void;
  dispose(): void;
}

const FAN_CLOEXEC = 0x1;
const FAN_NONBLOCK = 0x2;
const FAN_REPORT_MNT = 0x4000;
const FAN_MARK_ADD = 0x1;
const FAN_MARK_MNTNS = 0x110;
const FAN_MNT_ATTACH = 0x0100_0000;
const FAN_MNT_DETACH = 0x0200_0000;
/**
 * fanotify groups we hold at most. The kernel allows 128 per user (fs.fanotify.max_user_groups) and other root
 * programs need some; past this, namespaces share groups (a change in one fires its group-mates too: a re-read
 * too many, never a change missed).
 */
const MAX_GROUPS = 64;
/**
 * How many PIDs of a namespace to try for a mark: one that exits or moves between scan and mark is skipped.
 * Fewer than the readers' MAX_PID_ATTEMPTS (proc/pids.ts): a namespace left unmarked is still re-read by the
 * periodic scan, so a mark is worth fewer tries than a read.
 */
const MARK_PID_ATTEMPTS = 4;

class Tracker implements MountTracker {
  fired = false;
  constructor(
    readonly group: Group,
    private readonly onFire: (() => void) | undefined,
  ) {}
  fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.onFire?.();
  }
  cancel(): void {
    if (this.fired) return;
    this.fired = true;
    this.group.members.delete(this);
    if (this.group.members.size === 0) this.group.close();
  }
}

class Group {
  readonly members = new Set<Tracker>();
  private closed = false;
  constructor(
    readonly fd: number,
    private readonly onClose: (g: Group) => void,
  ) {}
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
  }
}

export const unavailableMountNotifier: MountNotifier = {
  available: false,
  track: () => null,
  sync: () => undefined,
  dispose: () => undefined,
};

/** The notifier for this machine; `unavailableMountNotifier` when mount events cannot be had here. */
export function createMountNotifier(libc: Libc | null, waiter: EventWaiter | null, log: Logger): MountNotifier {
  if (!libc || !waiter) return unavailableMountNotifier;
  const probe = libc.fanotifyInit(FAN_REPORT_MNT | FAN_CLOEXEC | FAN_NONBLOCK, 0);
  if (probe < 0) {
    log.info(
      { errno: libc.errno() },
      'mount change events unavailable (fanotify mount events need Linux 6.15 and root); mount tables are polled',
    );
    return unavailableMountNotifier;
  }
  closeSync(probe);
  return new FanotifyNotifier(libc, waiter, log);
}

/**
 * Track the mount namespace `mntId` through whatever reaches it from here: the server's own link, a process in
 * it, or an nsfs bind in the server's mount namespace. Deeper chains (a bind inside another processless
 * namespace) are not reachable by path from here: null, and the caller polls.
 */
export function trackMountNs(
  notifier: MountNotifier,
  mntId: string,
  access: MountNsAccess,
  onFire?: () => void,
): MountTracker | null {
  if (!notifier.available) return null;
  const inode = nsIdInode(mntId);
  if (access.kind === 'self') return notifier.track('/proc/self/ns/mnt', inode, onFire);
  // A bind path may be in a tree another user controls (/proc/PID/root/…): opened O_PATH and verified first.
  if (access.kind === 'chain')
    return access.chain.length === 1
      ? withVerifiedNsfs(access.chain[0] as string, inode, (p) => notifier.track(p, inode, onFire))
      : null;
  for (const pid of access.pids.slice(0, MARK_PID_ATTEMPTS)) {
    const tracker = notifier.track(`/proc/${pid}/ns/mnt`, inode, onFire);
    if (tracker) return tracker;
  }
  return null;
}

class FanotifyNotifier implements MountNotifier {
  readonly available = true;
  private readonly groups = new Set<Group>();
  private disposed = false;

  constructor(
    private readonly libc: Libc,
    private readonly waiter: EventWaiter,
    private readonly log: Logger,
  ) {}

  track(path: string, inode: string, onFire?: () => void): MountTracker | null {
    if (this.disposed) return null;
    let nsFd: number;
    try {
      nsFd = openSync(path, 'r');
    } catch {
      return null; // Swallow: the process exited or the bind is gone; the caller reads without a tracker
    }
    try {
      if (fstatSync(nsFd, { bigint: true }).ino !== BigInt(inode)) return null;
      const group = this.groupFor();
      if (!group) return null;
      if (
        this.libc.fanotifyMark(group.fd, FAN_MARK_ADD | FAN_MARK_MNTNS, FAN_MNT_ATTACH | FAN_MNT_DETACH, nsFd, null) < 0
      ) {
        this.log.debug({ errno: this.libc.errno(), path }, 'fanotify_mark on a mount namespace failed');
        if (group.members.size === 0) group.close();
        return null;
      }
      const tracker = new Tracker(group, onFire);
      group.members.add(tracker);
      return tracker;
    } finally {
      closeSync(nsFd);
    }
  }

  sync(): void {
    this.waiter.sync();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const g of [...this.groups]) {
      for (const t of g.members) t.fired = true;
      g.close();
    }
  }

  /** A new group while under MAX_GROUPS, else the least shared one. */
  private groupFor(): Group | null {
    if (this.groups.size < MAX_GROUPS) {
      const fd = this.libc.fanotifyInit(FAN_REPORT_MNT | FAN_CLOEXEC | FAN_NONBLOCK, 0);
      if (fd >= 0) {
        const group = new Group(fd, (g) => this.closeGroup(g));
        if (!this.waiter.add(fd, () => this.fireGroup(group))) {
          closeSync(fd);
          return null;
        }
        this.groups.add(group);
        return group;
      }
      this.log.debug({ errno: this.libc.errno() }, 'fanotify_init failed; sharing a group');
    }
    let best: Group | null = null;
    for (const g of this.groups) if (!best || g.members.size < best.members.size) best = g;
    return best;
  }

  /** Closing a marked group waits for an RCU grace period (~2.5 ms here): done on a pool thread, not the loop. */
  private closeGroup(g: Group): void {
    this.groups.delete(g);
    this.waiter.remove(g.fd);
    close(g.fd, (err) => {
      if (err) this.log.warn({ err }, 'closing a fanotify group failed');
    });
  }

  private fireGroup(g: Group): void {
    const members = [...g.members];
    g.close();
    for (const t of members) {
      try {
        t.fire();
      } catch (err) {
        // Swallow after logging: one listener's bug must not stop the others from hearing.
        this.log.error({ err }, 'mount change listener threw');
      }
    }
  }
}
