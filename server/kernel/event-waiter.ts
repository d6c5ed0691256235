// One pool thread waits in epoll_wait for every kernel event source the server listens to (fanotify groups,
// the proc connector), so an idle server makes no wake-ups at all. Sources are one-shot (EPOLLONESHOT): each
// reports once, its owner handles it on the main thread and re-arms it when it wants to hear more — a busy
// source costs at most one wake-up per re-arm, however many events it has.
import { closeSync, writeSync } from 'node:fs';
import { arch } from 'node:os';
import type { Logger } from '../log.js';
import type { Libc } from './libc.js';

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EPOLLIN = 0x1;
const EPOLLONESHOT = 1 << 30;
const EFD_CLOEXEC = 0o2000000;
const POLLIN = 0x1;
const POLLFD_SIZE = 8;
/** struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16). */
const EPOLL_EVENT_SIZE = arch() === 'x64' ? 12 : 16;
const WAIT_BATCH = 16;

interface Source {
  onReady: () => void;
  armed: boolean;
}

export class EventWaiter {
  private readonly sources = new Map<number, Source>();
  private readonly epfd: number;
  private readonly wakeFd: number;
  private readonly waitEvents = Buffer.alloc(EPOLL_EVENT_SIZE * WAIT_BATCH);
  private pollFds = Buffer.alloc(POLLFD_SIZE * 16);
  private waiting = false;
  private disposed = false;

  constructor(
    private readonly libc: Libc,
    private readonly log: Logger,
  ) {
    this.epfd = libc.epollCreate1(EPOLL_CLOEXEC);
    this.wakeFd = libc.eventfd(0, EFD_CLOEXEC);
    if (this.epfd < 0 || this.wakeFd < 0) throw new Error(`epoll_create1/eventfd failed: errno ${libc.errno()}`);
    this.ctl(EPOLL_CTL_ADD, this.wakeFd);
    // The pending wait keeps the event loop alive (whoever owns this must dispose it to let the process end on
    // its own), and process.exit() waits for the pool thread blocked in epoll_wait: wake it on the way out.
    process.once('exit', this.wake);
  }

  /**
   * Tell `onReady` (on the main thread) when `fd` is readable; once, then again only after rearm(fd). False
   * once disposed: the caller keeps (and closes) its fd.
   */
  add(fd: number, onReady: () => void): boolean {
    if (this.disposed) return false;
    this.sources.set(fd, { onReady, armed: true });
    this.ctl(EPOLL_CTL_ADD, fd);
    this.waitInBackground();
    return true;
  }

  /**
   * Listen to `fd` again. Always re-arms in the kernel, even if we think it is armed: the waiting thread may
   * have taken its one report (EPOLLONESHOT disarms it there) while its handler has not run yet, and a reader
   * that drained the fd meanwhile leaves that handler nothing to see — skipping the re-arm would leave the fd
   * deaf for good.
   */
  rearm(fd: number): void {
    const s = this.sources.get(fd);
    if (!s || this.disposed) return;
    s.armed = true;
    this.ctl(EPOLL_CTL_MOD, fd);
    this.waitInBackground();
  }

  /** Forget `fd` before its owner closes it. */
  remove(fd: number): void {
    if (this.sources.delete(fd)) this.libc.epollCtl(this.epfd, EPOLL_CTL_DEL, fd, null);
  }

  /** Handle every armed source that is readable now (one poll(2)): for callers that must not act on stale state. */
  sync(): void {
    const armed = [...this.sources].filter(([, s]) => s.armed);
    if (armed.length === 0) return;
    if (this.pollFds.length < armed.length * POLLFD_SIZE) this.pollFds = Buffer.alloc(armed.length * 2 * POLLFD_SIZE);
    armed.forEach(([fd], i) => {
      this.pollFds.writeInt32LE(fd, i * POLLFD_SIZE);
      this.pollFds.writeInt32LE(POLLIN, i * POLLFD_SIZE + 4); // events = POLLIN, revents = 0
    });
    if (this.libc.poll(this.pollFds, armed.length, 0) <= 0) return;
    armed.forEach(([fd, s], i) => {
      if (this.pollFds.readInt16LE(i * POLLFD_SIZE + 6) === 0 || !s.armed || this.sources.get(fd) !== s) return;
      s.armed = false;
      try {
        s.onReady();
      } catch (err) {
        // Swallow after logging: one source's bug must not stop the others from being heard.
        this.log.error({ err }, 'kernel event handler threw');
      }
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.sources.clear();
    process.off('exit', this.wake);
    // The waiting pool thread holds the epoll fd: wake it, and let its callback close what it waits on.
    if (this.waiting) this.wake();
    else this.closeFds();
  }

  private readonly wake = (): void => {
    if (this.waiting) writeSync(this.wakeFd, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  };

  private ctl(op: number, fd: number): void {
    const ev = Buffer.alloc(EPOLL_EVENT_SIZE);
    ev.writeUInt32LE(EPOLLIN | EPOLLONESHOT, 0);
    ev.writeBigUInt64LE(BigInt(fd), EPOLL_EVENT_SIZE === 12 ? 4 : 8);
    if (this.libc.epollCtl(this.epfd, op, fd, ev) < 0)
      throw new Error(`epoll_ctl(${op}, ${fd}) failed: errno ${this.libc.errno()}`);
  }

  /** Which source woke the thread does not matter: sync() asks them all. */
  private waitInBackground(): void {
    if (this.waiting || this.disposed) return;
    this.waiting = true;
    this.libc.epollWait.async(this.epfd, this.waitEvents, WAIT_BATCH, -1, (err) => {
      this.waiting = false;
      if (this.disposed) return this.closeFds();
      if (err) this.log.warn({ err }, 'waiting for kernel events failed');
      this.sync();
      if ([...this.sources.values()].some((s) => s.armed)) this.waitInBackground();
    });
  }

  private closeFds(): void {
    closeSync(this.epfd);
    closeSync(this.wakeFd);
  }
}
