// The server-side copy of a session's screen: a headless xterm fed with exactly the bytes that were sent to the
// clients, so that a client attaching later gets the serialized screen and then the live bytes that follow it,
// with no byte lost or doubled.
//
// xterm's `write` parses asynchronously (in time slices), so at any instant the headless terminal has processed
// a prefix of what it was given. Each write's callback runs synchronously right after that chunk is parsed and
// before the next one, so inside it the screen corresponds exactly to `processedSeq`. A snapshot is taken there
// (at a clean VT boundary, see vt-boundary.ts), and the events written but not yet parsed are handed over with it:
// they are precisely the live output that follows the snapshot.
import xtermHeadless from '@xterm/headless';
import { SerializeAddon } from '@xterm/addon-serialize';
import { VtBoundary } from './vt-boundary.js';

const { Terminal } = xtermHeadless;
type HeadlessTerminal = InstanceType<typeof Terminal>;

/**
 * How long a snapshot request waits for a clean VT boundary before it settles for the next parsed chunk. Output
 * that stops in the middle of an escape sequence is rare (a program killed mid-write); waiting forever is worse.
 */
export const SNAPSHOT_BOUNDARY_WAIT_MS = 150;

const NO_BYTES = new Uint8Array(0);

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

interface InFlight {
  event: StreamEvent;
  /** output offset once this event is parsed */
  endSeq: number;
  /** whether a cut right after this event is clean */
  clean: boolean;
}

export interface ScreenMirrorOptions {
  cols: number;
  rows: number;
  scrollback: number;
  /** called whenever the headless terminal catches up a little (flow control watches `backlogBytes`) */
  onProgress(): void;
}

export class ScreenMirror {
  private readonly terminal: HeadlessTerminal;
  private readonly serializer = new SerializeAddon();
  private readonly boundary = new VtBoundary();
  private readonly inFlight: InFlight[] = [];
  private writtenSeq = 0;
  private processedSeq = 0;
  private processedClean = true;
  private waiters: Array<(snapshot: ScreenSnapshot) => void> = [];
  private waitDeadline: NodeJS.Timeout | undefined;
  private acceptAnyCut = false;
  private disposed = false;

  constructor(private readonly opts: ScreenMirrorOptions) {
    // allowProposedApi: the serialize addon reads the buffer through the proposed API.
    this.terminal = new Terminal({ cols: opts.cols, rows: opts.rows, scrollback: opts.scrollback, allowProposedApi: true });
    this.terminal.loadAddon(this.serializer);
  }

  /** bytes given to the headless terminal that it has not parsed yet */
  get backlogBytes(): number {
    return this.writtenSeq - this.processedSeq;
  }

  write(bytes: Buffer): void {
    if (this.disposed) return;
    this.writtenSeq += bytes.length;
    const entry: InFlight = { event: { kind: 'output', bytes }, endSeq: this.writtenSeq, clean: this.boundary.feed(bytes) };
    this.inFlight.push(entry);
    this.terminal.write(bytes, () => this.parsed(entry));
  }

  /** Resizes in stream order: output written before the resize is parsed at the old size, as the clients did. */
  resize(cols: number, rows: number): void {
    if (this.disposed) return;
    const entry: InFlight = { event: { kind: 'resize', cols, rows }, endSeq: this.writtenSeq, clean: this.boundary.atBoundary };
    this.inFlight.push(entry);
    this.terminal.write(NO_BYTES, () => {
      if (!this.disposed) this.terminal.resize(cols, rows);
      this.parsed(entry);
    });
  }

  /**
   * Calls `deliver` with a snapshot at a clean cut, synchronously if the mirror is idle at one. Returns a
   * function that withdraws the request (a client that left before its snapshot was ready).
   */
  requestSnapshot(deliver: (snapshot: ScreenSnapshot) => void): () => void {
    if (this.inFlight.length === 0 && this.processedClean) {
      deliver(this.snapshot());
      return () => {};
    }
    this.waiters.push(deliver);
    this.waitDeadline ??= setTimeout(() => {
      this.waitDeadline = undefined;
      this.acceptAnyCut = true;
      if (this.inFlight.length === 0) this.serveWaiters();
    }, SNAPSHOT_BOUNDARY_WAIT_MS);
    return () => {
      this.waiters = this.waiters.filter((w) => w !== deliver);
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.waitDeadline);
    this.waiters = [];
    this.inFlight.length = 0;
    this.terminal.dispose();
  }

  private parsed(entry: InFlight): void {
    if (this.disposed) return;
    // Callbacks run in write order, so the entry is the oldest one in flight.
    this.inFlight.shift();
    this.processedSeq = entry.endSeq;
    this.processedClean = entry.clean;
    if (this.waiters.length > 0 && (entry.clean || this.acceptAnyCut)) this.serveWaiters();
    this.opts.onProgress();
  }

  private serveWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    this.acceptAnyCut = false;
    clearTimeout(this.waitDeadline);
    this.waitDeadline = undefined;
    const snapshot = this.snapshot();
    for (const deliver of waiters) deliver(snapshot);
  }

  private snapshot(): ScreenSnapshot {
    return {
      screen: Buffer.from(this.serializer.serialize(), 'utf8'),
      cols: this.terminal.cols,
      rows: this.terminal.rows,
      seq: this.processedSeq,
      following: this.inFlight.map((f) => f.event),
    };
  }
}
