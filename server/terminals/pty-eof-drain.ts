// Workaround for output lost at exit. libuv takes "POLLHUP and a short read" to mean EOF, but a Linux pty master
// hands out at most ~4 KB per read and can still hold more after the slave closed: libuv then reports EOF early
// and node-pty closes the fd, dropping the tail of the output (libuv/libuv#4992, fixed in libuv releases newer
// than the one Node 20 bundles; also microsoft/node-pty#85). Measured here: `seq 1 300000; echo END` lost its
// last ~15 KB in 1 run of 8.
//
// On that EOF the fd is still open (node-pty closes it a tick later), so we read what is left ourselves,
// synchronously, until the kernel says EIO (slave closed, buffer empty) or EAGAIN. What remains is bounded by
// the kernel's pty buffer (~64 KB), so the synchronous read is short.
import { readSync } from 'node:fs';
import type { IPty } from 'node-pty';

const DRAIN_CHUNK_BYTES = 64 * 1024;

interface UnixPtyInternals {
  /** node-pty 1.x UnixTerminal: the master's read stream and fd */
  _socket?: { on(event: 'end', listener: () => void): unknown; off(event: 'end', listener: () => void): unknown };
  fd?: number;
}

/** Delivers the bytes an early EOF would have dropped; returns the function that removes the hook. */
export function rescueOutputAfterEarlyEof(pty: IPty, deliver: (chunk: Buffer) => void): () => void {
  const internals = pty as unknown as UnixPtyInternals;
  const socket = internals._socket;
  const fd = internals.fd;
  if (!socket || typeof fd !== 'number') return () => {}; // another node-pty layout: nothing to hook into
  const onEnd = () => {
    const buf = Buffer.allocUnsafe(DRAIN_CHUNK_BYTES);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch {
        return; // Swallow: EIO (all read, slave closed) or EAGAIN (nothing more now) both mean done.
      }
      if (n <= 0) return;
      deliver(Buffer.from(buf.subarray(0, n)));
    }
  };
  socket.on('end', onEnd);
  return () => socket.off('end', onEnd);
}
