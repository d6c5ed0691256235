// Pauses and resumes a pty's output from the acks its clients send. Pausing stops reading the pty master, so
// the kernel's pty buffer fills and the writing program blocks: a flood costs no server memory, and Ctrl-C
// never waits behind more than FLOW_HIGH_WATERMARK_BYTES of unrendered output. Input is unaffected.
import type { IPty } from 'node-pty';

/**
 * Pause the pty when a writer has this many bytes sent but not yet rendered. It bounds the wait from Ctrl-C to
 * the prompt (ttyd, with no such bound, takes 4.7-6.9 s): the browser renders what was sent before the Ctrl-C.
 * It must also cover what the browser renders during one ack round trip (ack batch + ws + resume + pty read +
 * output batcher + ws), or the page sits idle waiting for data. Measured with `seq 1 2000000` in headless
 * Chromium on 2 loaded vCPUs: at 128 KB (low 32 KB) the page had parsed everything it had received for 31-60% of
 * the run (2.7-7.6 MB/s); at 256 KB (low 192 KB) for 10-15% (7.8-9.3 MB/s, bench median 8.0-8.4 MB/s), while
 * Ctrl-C after `yes` stayed at 73 ms (bench median; 384 KB gave the same, 1 MB rose to ~200 ms).
 */
export const FLOW_HIGH_WATERMARK_BYTES = 256 * 1024;
/**
 * Resume once every writer is below this. High, so the pty is reading again while the browser still has most of
 * a window to render (resuming at 32 KB drained the pipe on each pause); the gap to the high mark keeps the pty
 * from flapping between pause and resume on every ack.
 */
export const FLOW_LOW_WATERMARK_BYTES = 192 * 1024;
/**
 * The replay mirror parses in a worker thread (mirror/mirror-host.ts); when it lags this much, the pty waits for it too:
 * it bounds the memory held for it and how long a snapshot for a new client waits for the parser to catch up.
 * Room to lag is what lets it keep up with a flood: the further behind, the bigger the batch it gets next and
 * the more of it a flood cut skips (mirror/mirror-worker.ts). Measured here (100 MB; in-process node-pty
 * 59–75 MB/s, single runs vary ±15%): 1 MB / 256 KB 53–75 MB/s with the CPU idle 11–19% of the time waiting
 * for the mirror; 2 MB / 1 MB 51–71 MB/s (0.79–0.87×); 3 MB / 1.5 MB 0.85–1.01× (medians of 3); 4 MB / 2 MB
 * 63–83 MB/s. 3 MB keeps what a flooding session holds (these bytes on the main thread, a copy queued in the
 * worker) to a few MB, and a new client waits at most ~50 ms for the parser.
 */
export const MIRROR_HIGH_BACKLOG_BYTES = 3 * 1024 * 1024;
const MIRROR_LOW_BACKLOG_BYTES = 1536 * 1024;
/**
 * node-pty destroys the pty 200 ms after the child exits if the read side has not hit EOF, dropping what is
 * still in the kernel buffer — which is exactly the case while we are paused. So while paused we look for the
 * child's exit more often than that, and then read the rest (at most the kernel's ~64 KB pty buffer) regardless
 * of acks: `seq 1 1000000; exit` must show its last line.
 */
const PAUSED_EXIT_POLL_MS = 50;
/** The exit watch stops once output has flowed freely this long (the next pause restarts it). */
const EXIT_WATCH_LINGER_MS = 1000;

export class PtyFlowGate {
  /** paused on acks or the mirror's backlog */
  private paused = false;
  /** waiting for its turn among floods (read-turns.ts) */
  private throttled = false;
  /** the pty is not being read (paused or throttled) */
  private stopped = false;
  private lastPausedAt = 0;
  /** the shell has exited: read everything that is left, whatever the acks say */
  private draining = false;
  private exitWatch: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    private readonly pty: IPty,
    private readonly pid: number,
  ) {}

  /** Decides from the most un-acked writer and the mirror's backlog. */
  update(worstWriterUnacked: number, mirrorBacklog: number): void {
    if (this.disposed || this.draining) return;
    if (!this.paused && (worstWriterUnacked > FLOW_HIGH_WATERMARK_BYTES || mirrorBacklog > MIRROR_HIGH_BACKLOG_BYTES)) {
      this.paused = true;
      this.apply();
    } else if (
      this.paused &&
      worstWriterUnacked <= FLOW_LOW_WATERMARK_BYTES &&
      mirrorBacklog <= MIRROR_LOW_BACKLOG_BYTES
    ) {
      this.paused = false;
      this.apply();
    }
  }

  /** Stops (or lets resume) reading while this flood waits for its turn among others (read-turns.ts). */
  throttle(on: boolean): void {
    if (this.disposed || this.draining || this.throttled === on) return;
    this.throttled = on;
    this.apply();
  }

  /** The shell exited (or the session ends): nothing is paused any more. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stopWatch();
    this.paused = this.throttled = false;
    this.apply(); // let node-pty read to EOF and close the pty fd
  }

  /** Reads the pty unless paused or throttled (draining: always). */
  private apply(): void {
    const stop = !this.draining && (this.paused || this.throttled);
    if (stop === this.stopped) return;
    this.stopped = stop;
    if (stop) {
      this.lastPausedAt = Date.now();
      this.pty.pause();
      // Not restarted on every pause: pause and resume can alternate faster than the poll interval.
      this.exitWatch ??= setInterval(() => this.watchForExit(), PAUSED_EXIT_POLL_MS);
    } else {
      this.pty.resume();
    }
  }

  private stopWatch(): void {
    clearInterval(this.exitWatch);
    this.exitWatch = undefined;
  }

  private watchForExit(): void {
    if (!this.stopped && Date.now() - this.lastPausedAt > EXIT_WATCH_LINGER_MS) return this.stopWatch();
    try {
      process.kill(this.pid, 0);
    } catch {
      // The shell is gone (node-pty reaps it at once): read what it left behind.
      this.stopWatch();
      this.draining = true;
      this.apply();
    }
  }
}
