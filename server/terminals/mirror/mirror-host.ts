// The one worker thread shared by every session's replay mirror (the worker: mirror-worker.ts).
//
// One thread for all sessions rather than one each: a worker costs ~10 MB and a V8 isolate, and on a 2-vCPU box
// a second parsing thread could not run in parallel anyway. The worker is unref'ed (it never keeps the process
// alive), started with the first mirror, terminated when the last one is disposed, and terminated by
// MirrorHost.dispose() (called by registry.disposeAll) whatever is left.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** A main-thread mirror as the host sees it: it receives its worker's reports. */
export interface MirrorEndpoint {
  /** events up to `n` (output up to offset `seq`) have been parsed */
  progress(n: number, seq: number): void;
  /** the screen exactly after event `n` */
  snapshot(n: number, seq: number, cols: number, rows: number, screen: Buffer): void;
  /** the worker died: the mirror has lost its screen */
  lost(err: Error): void;
}

export type MirrorMessage =
  | ['c', number, number, number, number]
  | ['w', number, number, number, boolean, ArrayBuffer]
  | ['r', number, number, number, boolean, number, number]
  | ['s', number]
  | ['x', number]
  | ['m', number];

export type WorkerMessage =
  | ['p', number[]]
  | ['s', number, number, number, number, number, ArrayBuffer]
  | ['m', number, number, number, number, number, number, number];

export interface MirrorWorkerData {
  boundaryWaitMs: number;
  progressReportMs: number;
  freezeIdleMs: number;
}

/** What the worker holds, for tests and benches. */
export interface MirrorMemoryStats {
  terminals: number;
  /** scrollback lines kept compressed (scrollback-freezer.ts) */
  frozenLines: number;
  /** scrollback lines holding their cells */
  liveLines: number;
  /** their compressed size */
  packedBytes: number;
  /** the worker's V8 heap: used, and taken from the system */
  heapUsed: number;
  heapTotal: number;
}

/**
 * A terminal with no output, resize or snapshot for this long has its scrollback compressed (scrollback-freezer.ts;
 * later output does not thaw it, only a snapshot or a resize does). Short enough that sessions left alone give
 * their memory back within seconds, long enough that the pauses of a busy session (a build between steps) do not
 * freeze a few lines at a time. Freezing 1,000 lines of 120 columns took ~2 ms, thawing them ~4 ms.
 */
export const FREEZE_IDLE_MS = 3000;
const NO_STATS: MirrorMemoryStats = {
  terminals: 0,
  frozenLines: 0,
  liveLines: 0,
  packedBytes: 0,
  heapUsed: 0,
  heapTotal: 0,
};

/**
 * The compiled worker beside this module (dist/server/terminals/mirror/). Under vitest this module runs from its
 * .ts source, where no .js sits beside it: then the build's copy, which vitest's global setup
 * (test/helpers/build-once.ts) compiles before any test runs, so it matches the sources.
 */
export function mirrorWorkerUrl(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = fromSource
    ? new URL('../../../dist/server/terminals/mirror/mirror-worker.js', import.meta.url)
    : new URL('./mirror-worker.js', import.meta.url);
  if (!existsSync(fileURLToPath(url)))
    throw new Error(`the mirror worker is not built (${fileURLToPath(url)}): run npm run build`);
  return url;
}

/**
 * The worker reports parse progress at most this often (for all terminals in one message). Progress only drives
 * flow control (a backlog threshold of megabytes) and frees held events, so some ms of delay cost nothing there,
 * while every report wakes the main thread: with 100 sessions typing, 2 ms meant ~500 wake-ups a second.
 */
export const PROGRESS_REPORT_MS = 10;
/**
 * Queued output at least this big goes to the worker at the end of the turn; less waits MIRROR_LINGER_MS, so that
 * typing wakes the worker a few dozen times a second rather than once per key, and a flood goes as one message
 * per ~256 KB instead of one per 32 KB frame (the worker waits for 1 MB before it parses anyway: PUMP_MIN_BYTES
 * in mirror-worker.ts). Measured with PROGRESS_REPORT_MS: 2 ms / 5 ms gave echo p50/p99 0.17–0.21 / 0.66–0.93 ms
 * and 100 sessions typing p99 3.7–10 ms; 10 ms / 20 ms gave 0.14 / 0.46–0.52 ms and 4.2–4.8 ms. For a flood of
 * 100 MB of plain lines, 16 KB (a message per frame) cost the worker thread 0.67–0.69 s, 256 KB 0.50–0.52 s.
 */
export const MIRROR_FLUSH_BYTES = 256 * 1024;
export const MIRROR_LINGER_MS = 20;

export class MirrorHost {
  private worker: Worker | null = null;
  private readonly endpoints = new Map<number, MirrorEndpoint>();
  private nextId = 1;
  private outbox: MirrorMessage[] = [];
  private transfers: ArrayBuffer[] = [];
  private outboxBytes = 0;
  private flushing: NodeJS.Immediate | undefined;
  private lingering: NodeJS.Timeout | undefined;

  private nextStatsRequest = 1;
  private readonly statsRequests = new Map<number, (stats: MirrorMemoryStats) => void>();

  constructor(
    private readonly boundaryWaitMs: number,
    private readonly freezeIdleMs = FREEZE_IDLE_MS,
  ) {}

  /** terminals open in the worker */
  get openTerminals(): number {
    return this.endpoints.size;
  }

  /** Creates a terminal in the worker (starting the worker if needed); returns its id. */
  open(endpoint: MirrorEndpoint, cols: number, rows: number, scrollback: number): number {
    const id = this.nextId++;
    this.endpoints.set(id, endpoint);
    this.post(['c', id, cols, rows, scrollback]);
    return id;
  }

  /**
   * Queues a message; everything queued in one event-loop turn goes to the worker as one postMessage. With many
   * sessions busy (100 typing at once) that is one message per turn instead of one per echoed key, and each
   * postMessage costs the main thread ~10 µs. Order is kept: the worker handles the batch in sequence.
   */
  post(msg: MirrorMessage, transfer?: ArrayBuffer): void {
    if (!this.endpoints.has(msg[1])) return;
    this.outbox.push(msg);
    if (transfer) {
      this.transfers.push(transfer);
      this.outboxBytes += transfer.byteLength;
    }
    // Streaming output and snapshot requests go at the end of this turn. A trickle (echoed keys) waits a few
    // ms: every message wakes the worker (and xterm's own write timer, and a progress report back), and on two
    // vCPUs those wake-ups compete with the shells and the clients for the CPU on every keystroke.
    if (msg[0] === 's' || this.outboxBytes >= MIRROR_FLUSH_BYTES) {
      if (this.flushing) return;
      clearTimeout(this.lingering);
      this.lingering = undefined;
      this.flushing = setImmediate(() => this.flush());
    } else if (!this.flushing && !this.lingering) {
      this.lingering = setTimeout(() => this.flush(), MIRROR_LINGER_MS);
      this.lingering.unref();
    }
  }

  /** The worker's memory figures (no worker: all zero). */
  stats(): Promise<MirrorMemoryStats> {
    if (this.endpoints.size === 0) return Promise.resolve(NO_STATS);
    this.flush(); // after everything queued before it
    const request = this.nextStatsRequest++;
    this.ensureWorker().postMessage([['m', request]]);
    return new Promise((resolve) => this.statsRequests.set(request, resolve));
  }

  close(id: number): void {
    if (!this.endpoints.has(id)) return;
    this.post(['x', id]);
    this.endpoints.delete(id);
    if (this.endpoints.size === 0) this.terminate();
  }

  /** Ends the worker now; mirrors still open are told they lost their screen. */
  dispose(): void {
    const orphans = [...this.endpoints.values()];
    this.endpoints.clear();
    this.terminate();
    for (const endpoint of orphans) endpoint.lost(new Error('the mirror host was disposed'));
  }

  private flush(): void {
    this.cancelFlush();
    const batch = this.outbox;
    const transfers = this.transfers;
    this.outbox = [];
    this.transfers = [];
    this.outboxBytes = 0;
    if (batch.length > 0 && this.endpoints.size > 0) this.ensureWorker().postMessage(batch, transfers);
  }

  private cancelFlush(): void {
    clearImmediate(this.flushing);
    clearTimeout(this.lingering);
    this.flushing = undefined;
    this.lingering = undefined;
  }

  private terminate(): void {
    this.cancelFlush();
    this.answerStats();
    this.outbox = [];
    this.transfers = [];
    this.outboxBytes = 0;
    const worker = this.worker;
    this.worker = null;
    // Swallow: terminate() only rejects if the worker is already gone.
    if (worker) worker.terminate().catch(() => {});
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const workerData: MirrorWorkerData = {
      boundaryWaitMs: this.boundaryWaitMs,
      progressReportMs: PROGRESS_REPORT_MS,
      freezeIdleMs: this.freezeIdleMs,
    };
    const worker = new Worker(mirrorWorkerUrl(), { workerData });
    worker.unref();
    worker.on('message', (msg: WorkerMessage) => this.receive(msg));
    const fail = (err: Error) => {
      if (this.worker !== worker) return; // terminated on purpose
      this.worker = null;
      this.answerStats();
      const orphans = [...this.endpoints.values()];
      this.endpoints.clear();
      for (const endpoint of orphans) endpoint.lost(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`mirror worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** Pending stats requests get zeros: the worker is gone. */
  private answerStats(): void {
    for (const answer of this.statsRequests.values()) answer(NO_STATS);
    this.statsRequests.clear();
  }

  private receive(msg: WorkerMessage): void {
    if (msg[0] === 'p') {
      const list = msg[1];
      for (let i = 0; i + 2 < list.length; i += 3)
        this.endpoints.get(list[i] as number)?.progress(list[i + 1] as number, list[i + 2] as number);
    } else if (msg[0] === 'm') {
      const [, request, terminals, frozenLines, liveLines, packedBytes, heapUsed, heapTotal] = msg;
      this.statsRequests.get(request)?.({ terminals, frozenLines, liveLines, packedBytes, heapUsed, heapTotal });
      this.statsRequests.delete(request);
    } else {
      const [, id, n, seq, cols, rows, screen] = msg;
      this.endpoints.get(id)?.snapshot(n, seq, cols, rows, Buffer.from(screen));
    }
  }
}
