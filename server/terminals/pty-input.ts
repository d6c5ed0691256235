// Keystrokes into the pty. node-pty writes through fs.write, i.e. a round trip through libuv's thread pool for
// every key: a thread wake-up, the write, an async completion back to the loop. A keystroke fits in the pty's
// input buffer, so writing it synchronously is one non-blocking syscall; only when the buffer is full (a big
// paste into a program that is not reading) do we queue and retry, in order.
import { writeSync } from 'node:fs';
import type { IPty } from 'node-pty';

/** How long to wait before retrying a write the kernel refused with EAGAIN (its input buffer is full). */
const INPUT_RETRY_MS = 2;

export class PtyInput {
  private readonly fd: number | undefined;
  private queue: Buffer[] = [];
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly pty: IPty) {
    const fd = (pty as unknown as { fd?: unknown }).fd;
    this.fd = typeof fd === 'number' ? fd : undefined;
  }

  write(data: Buffer): void {
    if (this.closed || data.length === 0) return;
    if (this.fd === undefined) return this.pty.write(data); // another node-pty layout: its own queue
    this.queue.push(data);
    if (this.queue.length === 1) this.drain();
  }

  dispose(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.queue = [];
  }

  private drain(): void {
    this.retry = undefined;
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0] as Buffer;
      let written: number;
      try {
        written = writeSync(this.fd as number, head);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.retry = setTimeout(() => this.drain(), INPUT_RETRY_MS);
          return;
        }
        // Swallow: EIO/EBADF mean the terminal is gone; input for it has nowhere to go.
        this.queue = [];
        return;
      }
      if (written < head.length) this.queue[0] = head.subarray(written);
      else this.queue.shift();
    }
  }
}
