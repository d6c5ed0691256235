// Coalesces pty reads into WebSocket frames. A pty read is often a few hundred bytes; one frame per read would
// cost a syscall, a frame header and a client-side xterm write each. Interactive output (an echoed key) goes out
// at the end of the current event-loop turn, adding microseconds; streaming output (the previous frame was big)
// is held for a few milliseconds to fill larger frames.
import { performance } from 'node:perf_hooks';

/** A frame this big goes out at once: it bounds frame size and what one client must ack before more is sent. */
export const MAX_FRAME_BYTES = 32 * 1024;
/**
 * A pty read or a previous frame at least this big means output is streaming, so waiting a little pays off. A
 * read returns at most what the kernel's pty buffer holds (~4 KB), so a threshold at that size would miss most
 * streams once the main thread keeps up (measured: 7,800 of 10,500 frames were single 4 KB reads).
 */
const STREAMING_FRAME_BYTES = 2 * 1024;
/** While streaming, at most one frame per this many milliseconds (unless MAX_FRAME_BYTES fills first). */
export const STREAMING_FLUSH_INTERVAL_MS = 4;

export class OutputBatcher {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private lastFlushAt = 0;
  private lastFrameBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(private readonly emit: (frame: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= MAX_FRAME_BYTES) return this.flush();
    if (this.timer || this.immediate) return;
    const sinceLast = performance.now() - this.lastFlushAt;
    const streaming = chunk.length >= STREAMING_FRAME_BYTES || this.lastFrameBytes >= STREAMING_FRAME_BYTES;
    if (streaming && sinceLast < STREAMING_FLUSH_INTERVAL_MS) {
      this.timer = setTimeout(() => this.flush(), STREAMING_FLUSH_INTERVAL_MS - sinceLast);
    } else {
      this.immediate = setImmediate(() => this.flush());
    }
  }

  /** Sends whatever is pending now (before an exit message or a resize, which must follow it on the wire). */
  flush(): void {
    this.cancel();
    if (this.bytes === 0) return;
    const frame = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.bytes);
    this.chunks = [];
    this.bytes = 0;
    this.lastFlushAt = performance.now();
    this.lastFrameBytes = frame.length;
    this.emit(frame);
  }

  dispose(): void {
    this.cancel();
    this.chunks = [];
    this.bytes = 0;
  }

  private cancel(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }
}
