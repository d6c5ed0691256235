// The server-side copy of a session's screen: a headless xterm fed with exactly the bytes that were sent to the
// clients, so that a client attaching later gets the serialized screen and then the live bytes that follow it,
// with no byte lost or doubled.
//
// The headless xterm lives in a worker thread shared by all sessions (mirror-host.ts): parsing every output byte
// was the largest cost on the main thread under a flood. This class is its main-thread half. Each event (output
// or resize) is numbered and kept here until the worker reports it parsed. The worker takes a snapshot inside
// the write callback of an event n that ends at a clean VT boundary (see vt-boundary.ts), so the screen is
// exactly "everything up to n"; the events after n that are still held here are precisely the live output that
// the new client must get right after that screen.
import type { MirrorEndpoint, MirrorHost } from './mirror-host.js';
import { VtBoundary } from './vt-boundary.js';

/**
 * How long a snapshot request waits for a clean VT boundary before it settles for the next parsed chunk. Output
 * that stops in the middle of an escape sequence is rare (a program killed mid-write); waiting forever is worse.
 */
export const SNAPSHOT_BOUNDARY_WAIT_MS = 150;

/** What the clients were sent, in order: output bytes, and size changes between them. */
export type StreamEvent = { kind: 'output'; bytes: Buffer } | { kind: 'resize'; cols: number; rows: number };

export interface ScreenSnapshot {
  /** the screen, scrollback and modes as terminal bytes (UTF-8) */
  screen: Buffer;
  cols: number;
  rows: number;
  /** output byte offset that `screen` reflects */
  seq: number;
  /** events after `seq`, already sent to live clients: a new client must get them right after `screen` */
  following: StreamEvent[];
}

interface Held {
  n: number;
  event: StreamEvent;
}

export interface ScreenMirrorOptions {
  cols: number;
  rows: number;
  scrollback: number;
  /** called whenever the headless terminal catches up a little (flow control watches `backlogBytes`) */
  onProgress(): void;
  /** the worker host, owned by the registry */
  host: MirrorHost;
}

export class ScreenMirror implements MirrorEndpoint {
  private readonly host: MirrorHost;
  private readonly id: number;
  private readonly boundary = new VtBoundary();
  /** events given to the worker and not yet reported parsed, oldest first */
  private held: Held[] = [];
  private nextN = 0;
  private writtenSeq = 0;
  private processedSeq = 0;
  private cols: number;
  private rows: number;
  private waiters: Array<(snapshot: ScreenSnapshot) => void> = [];
  private requested = false;
  /** the worker died: the screen is unknown, clients get live output only */
  private lostScreen = false;
  private disposed = false;

  constructor(private readonly opts: ScreenMirrorOptions) {
    this.cols = opts.cols;
    this.rows = opts.rows;
    this.host = opts.host;
    this.id = this.host.open(this, opts.cols, opts.rows, opts.scrollback);
  }

  /** bytes given to the headless terminal that it has not parsed yet */
  get backlogBytes(): number {
    return this.writtenSeq - this.processedSeq;
  }

  write(bytes: Buffer): void {
    if (this.disposed || bytes.length === 0) return;
    this.writtenSeq += bytes.length;
    if (this.lostScreen) return void (this.processedSeq = this.writtenSeq);
    const n = this.nextN++;
    this.held.push({ n, event: { kind: 'output', bytes } });
    // A copy, transferred: `bytes` itself may still sit in a socket's write queue, so it cannot be moved.
    const copy = new ArrayBuffer(bytes.length);
    new Uint8Array(copy).set(bytes);
    this.host.post(['w', this.id, n, this.writtenSeq, this.boundary.feed(bytes), copy], copy);
  }

  /** Resizes in stream order: output written before the resize is parsed at the old size, as the clients did. */
  resize(cols: number, rows: number): void {
    if (this.disposed) return;
    this.cols = cols;
    this.rows = rows;
    if (this.lostScreen) return;
    const n = this.nextN++;
    this.held.push({ n, event: { kind: 'resize', cols, rows } });
    this.host.post(['r', this.id, n, this.writtenSeq, this.boundary.atBoundary, cols, rows]);
  }

  /**
   * Calls `deliver` with a snapshot at a clean cut, once the worker has one (always asynchronously). Returns a
   * function that withdraws the request (a client that left before its snapshot was ready).
   */
  requestSnapshot(deliver: (snapshot: ScreenSnapshot) => void): () => void {
    if (this.disposed) return () => {};
    this.waiters.push(deliver);
    if (this.lostScreen) queueMicrotask(() => this.serve(Buffer.alloc(0), this.cols, this.rows, this.writtenSeq, []));
    else if (!this.requested) {
      // Every waiter until the answer shares it: any clean cut is as good as another.
      this.requested = true;
      this.host.post(['s', this.id]);
    }
    return () => {
      this.waiters = this.waiters.filter((w) => w !== deliver);
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.waiters = [];
    this.held = [];
    this.host.close(this.id);
  }

  progress(n: number, seq: number): void {
    if (this.disposed) return;
    let drop = 0;
    while (drop < this.held.length && (this.held[drop] as Held).n <= n) drop++;
    if (drop > 0) this.held = this.held.slice(drop);
    this.processedSeq = seq;
    this.opts.onProgress();
  }

  snapshot(n: number, seq: number, cols: number, rows: number, screen: Buffer): void {
    if (this.disposed) return;
    this.requested = false;
    // Held events after n are still ours: progress reports never run ahead of a snapshot the worker took.
    const following: StreamEvent[] = [];
    for (const h of this.held) if (h.n > n) following.push(h.event);
    this.serve(screen, cols, rows, seq, following);
  }

  lost(): void {
    if (this.disposed || this.lostScreen) return;
    this.lostScreen = true;
    this.held = [];
    this.processedSeq = this.writtenSeq;
    this.requested = false;
    if (this.waiters.length > 0) this.serve(Buffer.alloc(0), this.cols, this.rows, this.writtenSeq, []);
    this.opts.onProgress();
  }

  private serve(screen: Buffer, cols: number, rows: number, seq: number, following: StreamEvent[]): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const deliver of waiters) deliver({ screen, cols, rows, seq, following });
  }
}
