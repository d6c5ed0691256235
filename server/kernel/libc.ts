// The few libc calls Node has no binding for (fanotify, epoll, netlink sockets, a thread's CPU clock), through koffi: an FFI with
// prebuilt binaries, so nothing is compiled at install. Loaded once; null where it cannot be (no glibc).
import koffi from 'koffi';

export interface Libc {
  fanotifyInit(flags: number, eventFlags: number): number;
  fanotifyMark(fd: number, flags: number, mask: number, dirfd: number, path: null): number;
  epollCreate1(flags: number): number;
  epollCtl(epfd: number, op: number, fd: number, event: Buffer | null): number;
  epollWait: {
    async(epfd: number, events: Buffer, max: number, timeout: number, cb: (err: unknown, n: number) => void): void;
  };
  poll(fds: Buffer, n: number, timeout: number): number;
  eventfd(initval: number, flags: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  clockGettime(clock: number, timespec: Buffer): number;
  errno(): number;
}

let loaded: Libc | null | undefined;

export function loadLibc(): Libc | null {
  if (loaded !== undefined) return loaded;
  try {
    const lib = koffi.load('libc.so.6');
    loaded = {
      fanotifyInit: lib.func('int fanotify_init(unsigned int flags, unsigned int event_f_flags)'),
      fanotifyMark: lib.func(
        'int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)',
      ),
      epollCreate1: lib.func('int epoll_create1(int flags)'),
      epollCtl: lib.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
      epollWait: lib.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
      poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
      eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
      socket: lib.func('int socket(int domain, int type, int protocol)'),
      bind: lib.func('int bind(int fd, void *addr, unsigned int len)'),
      send: lib.func('long send(int fd, void *buf, unsigned long len, int flags)'),
      recv: lib.func('long recv(int fd, void *buf, unsigned long len, int flags)'),
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *value, unsigned int len)'),
      clockGettime: lib.func('int clock_gettime(int clock, void *timespec)'),
      errno: () => koffi.errno(),
    };
  } catch {
    loaded = null; // Swallow: the callers fall back to polling and say so once
  }
  return loaded;
}
