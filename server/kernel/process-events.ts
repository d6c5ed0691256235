// Process starts, execs and exits, told by the kernel: the proc connector (a netlink socket, CAP_NET_ADMIN).
// The namespace list changes only when a process appears, exits or execs (what `unshare` and `nsenter` do
// after switching namespaces), so with this the list watcher rescans when something happened instead of
// looking every so often. Thread starts and exits are ignored: they change no row.
import { closeSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { EventWaiter } from './event-waiter.js';
import type { Libc } from './libc.js';

const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_CONNECTOR = 11;
const CN_IDX_PROC = 1;
const CN_VAL_PROC = 1;
const NLMSG_DONE = 3;
const PROC_CN_MCAST_LISTEN = 1;
const PROC_CN_MCAST_IGNORE = 2;
const PROC_EVENT_NONE = 0;
/** The kernel acks a listen request at once; one from outside the initial pid/user namespace gets no ack. */
const ACK_WAIT_MS = 200;
const POLLIN = 0x1;
const MSG_DONTWAIT = 0x40;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
/** nlmsghdr (16) + cn_msg (20): where struct proc_event starts; its union follows `what`, `cpu`, `timestamp`. */
const EVENT_AT = 36;
const DATA_AT = EVENT_AT + 16;
const PROC_EVENT_FORK = 0x1;
const PROC_EVENT_EXEC = 0x2;
const PROC_EVENT_COMM = 0x200;
const PROC_EVENT_EXIT = 0x8000_0000;
/** Netlink datagrams are small; a burst beyond the socket buffer is reported as ENOBUFS, which counts too. */
const RECV_SIZE = 4096;
const ENOBUFS = 105;

/**
 * The processes that started, exec'd, renamed or exited between two arm() calls: a scan right after the
 * earlier one plus fresh reads of these PIDs is what a full scan would see now — but for a process that
 * switched namespaces in place (setns/unshare without exec), which no event reports. `pids` null: unknown
 * (the first arm, or events were lost): only a full scan will do.
 */
export interface ProcessDelta {
  /** when the earlier arm() was (performance.now()); a scan that started before it missed some of these */
  since: number;
  pids: ReadonlySet<number> | null;
}

export interface ProcessEvents {
  /**
   * Call `onActivity` once at the next process start, exec, comm change or exit, and return what happened
   * since the last call. Call it before scanning: anything before is in the scan, anything after reports.
   */
  arm(onActivity: () => void): ProcessDelta;
  dispose(): void;
}

/** Past this many PIDs between two scans, a delta is not worth keeping: the next scan reads everything. */
const DELTA_MAX_PIDS = 20_000;

/** The proc connector, or null where it cannot be had (not root, no netlink, no koffi). */
export function openProcessEvents(libc: Libc | null, waiter: EventWaiter | null, log: Logger): ProcessEvents | null {
  if (!libc || !waiter) return null;
  const fd = libc.socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) return null;
  const addr = Buffer.alloc(12); // sockaddr_nl: family, pad, pid (0: the kernel picks), groups
  addr.writeUInt16LE(AF_NETLINK, 0);
  addr.writeUInt32LE(CN_IDX_PROC, 8);
  const rcvbuf = Buffer.alloc(4);
  rcvbuf.writeInt32LE(1 << 20, 0);
  libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, 4);
  if (
    libc.bind(fd, addr, 12) < 0 ||
    libc.send(fd, control(PROC_CN_MCAST_LISTEN), 40, 0) !== 40 ||
    !listenAcked(libc, fd)
  ) {
    log.info(
      { errno: libc.errno() },
      'process events unavailable (proc connector); the namespace list is checked on a timer',
    );
    closeSync(fd);
    return null;
  }
  const connector = new ProcConnector(fd, libc, waiter);
  return connector.listening ? connector : null;
}

/** A listen/ignore request: nlmsghdr + cn_msg + the op. */
function control(op: number): Buffer {
  const msg = Buffer.alloc(40);
  msg.writeUInt32LE(40, 0);
  msg.writeUInt16LE(NLMSG_DONE, 4);
  msg.writeUInt32LE(CN_IDX_PROC, 16);
  msg.writeUInt32LE(CN_VAL_PROC, 20);
  msg.writeUInt16LE(4, 32);
  msg.writeUInt32LE(op, 36);
  return msg;
}

/**
 * Whether the kernel took the listen request: it answers with an ack (PROC_EVENT_NONE, err 0). From outside the
 * initial pid/user namespace it ignores it without a word, and events that still arrive then are only those some
 * other listener turned on — not something to rely on.
 */
function listenAcked(libc: Libc, fd: number): boolean {
  const buf = Buffer.alloc(RECV_SIZE);
  const pfd = Buffer.alloc(8);
  const deadline = Date.now() + ACK_WAIT_MS;
  for (let left = ACK_WAIT_MS; left > 0; left = deadline - Date.now()) {
    pfd.writeInt32LE(fd, 0);
    pfd.writeInt32LE(POLLIN, 4);
    if (libc.poll(pfd, 1, left) <= 0) return false;
    const n = libc.recv(fd, buf, RECV_SIZE, MSG_DONTWAIT);
    if (n >= DATA_AT + 4 && buf.readUInt32LE(EVENT_AT) === PROC_EVENT_NONE) return buf.readUInt32LE(DATA_AT) === 0;
  }
  return false;
}

class ProcConnector implements ProcessEvents {
  private readonly buf = Buffer.alloc(RECV_SIZE);
  private onActivity: (() => void) | null = null;
  private disposed = false;
  /** PIDs heard about since the last arm(); null when some were lost (or before the first arm) */
  private touched: Set<number> | null = null;
  private armedAt = -Infinity;
  /** false when the waiter was already disposed: nothing would ever be heard */
  readonly listening: boolean;

  constructor(
    private readonly fd: number,
    private readonly libc: Libc,
    private readonly waiter: EventWaiter,
  ) {
    this.listening = waiter.add(fd, () => this.ready());
    if (!this.listening) this.dispose();
  }

  arm(onActivity: () => void): ProcessDelta {
    if (this.disposed) return { since: this.armedAt, pids: null };
    this.drain();
    const delta: ProcessDelta = { since: this.armedAt, pids: this.touched };
    this.touched = new Set();
    this.armedAt = performance.now();
    this.onActivity = onActivity;
    this.waiter.rearm(this.fd);
    return delta;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.onActivity = null;
    this.waiter.remove(this.fd);
    // The kernel counts listeners and sends every process event on the machine while any is left; closing the
    // socket does not always lower that count, so say so first.
    this.libc.send(this.fd, control(PROC_CN_MCAST_IGNORE), 40, 0);
    closeSync(this.fd);
  }

  private ready(): void {
    if (this.drain()) {
      const cb = this.onActivity;
      this.onActivity = null;
      cb?.();
    }
    if (this.onActivity) this.waiter.rearm(this.fd); // only threads came and went: keep listening
  }

  /** Read everything queued; true if any of it was about a process (not a thread), or some was lost. */
  private drain(): boolean {
    let relevant = false;
    for (;;) {
      const n = this.libc.recv(this.fd, this.buf, RECV_SIZE, MSG_DONTWAIT);
      if (n < 0) {
        if (this.libc.errno() !== ENOBUFS) return relevant; // EAGAIN: all read
        relevant = true; // some were dropped: assume one was about a process
        this.touched = null;
        continue;
      }
      if (n < DATA_AT + 8) continue;
      const pid = processOf(this.buf);
      if (pid === null) continue;
      relevant = true;
      this.touched?.add(pid);
      if (this.touched && this.touched.size > DELTA_MAX_PIDS) this.touched = null;
    }
  }
}

/** The process (thread group) an event is about, or null for a thread's start, exit or rename. */
function processOf(msg: Buffer): number | null {
  const what = msg.readUInt32LE(EVENT_AT);
  // fork: parent pid, parent tgid, child pid, child tgid — a process when the child leads its thread group.
  if (what === PROC_EVENT_FORK) {
    const child = msg.readUInt32LE(DATA_AT + 8);
    return child === msg.readUInt32LE(DATA_AT + 12) ? child : null;
  }
  // exec, exit and comm: pid, tgid.
  const pid = msg.readUInt32LE(DATA_AT);
  if (what === PROC_EVENT_EXEC) return msg.readUInt32LE(DATA_AT + 4);
  if (what === PROC_EVENT_EXIT || what === PROC_EVENT_COMM) return pid === msg.readUInt32LE(DATA_AT + 4) ? pid : null;
  return null;
}
