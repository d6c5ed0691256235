// The replay mirrors' worker thread: it hosts the headless xterm of every session and parses their output, so
// that parsing (the bulk of the server's CPU time under a flood) runs beside the main thread instead of on it.
//
// A module of its own, run from its compiled file (mirror-host.ts starts dist/…/mirror-worker.js; under vitest,
// which runs the .ts sources, the build's copy: vitest's global setup builds it first).
//
// Protocol (arrays, to keep the structured clone small). Main → worker, batched per event-loop turn:
//   ['c', id, cols, rows, scrollback]          create a terminal
//   ['w', id, n, endSeq, clean, ArrayBuffer]    output event n (transferred bytes), ending at output offset endSeq
//   ['r', id, n, endSeq, clean, cols, rows]     resize event n, in stream order
//   ['s', id]                                  snapshot at the next clean cut (or any cut after the wait)
//   ['x', id]                                  dispose
//   ['m', request]                             memory figures (tests and benches)
// Worker → main:
//   ['p', [id, n, seq, ...]]                   events up to n (output up to seq) are parsed; coalesced over a
//                                              few ms across all terminals (each message costs main-thread time)
//   ['s', id, n, seq, cols, rows, ArrayBuffer]  the screen (UTF-8) exactly after event n
//   ['m', request, terminals, frozenLines, liveLines, packedBytes, heapUsed, heapTotal]
//
// Each xterm write callback runs right after its chunk is parsed and before the next one, so inside it the
// screen corresponds exactly to that event: the snapshot is taken there, and the main thread pairs it with the
// events after n that it still holds (see screen-mirror.ts).
//
// Output queues per terminal while xterm is still parsing what it was given, and goes to it as one batch when it
// is done. Keeping up, that is every chunk at once; falling behind in a flood, the batches grow (up to the
// mirror backlog that pauses output, flow-gate.ts) and most of each can be skipped: if the queue starts with a
// flood of text (plain, coloured, UTF-8 or one long line), the part that the rest of the flood scrolls out of the
// buffer is dropped unparsed and replaced by a few bytes that restore the pen and column (flood-cut.ts), and the
// entries inside it report no progress of their own — their screens were never built, so no snapshot may be
// taken at them.
//
// A terminal that has had nothing to do for freezeIdleMs gets its scrollback compressed (scrollback-freezer.ts),
// which is most of an idle session's memory; it is thawed before a snapshot or a resize reads it.
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import headless from '@xterm/headless';
import serialize from '@xterm/addon-serialize';
import type { Terminal as TerminalType } from '@xterm/headless';
import type { SerializeAddon as SerializeAddonType } from '@xterm/addon-serialize';
import { cutOptions } from './cut-options.js';
import { cutFlood } from './flood-skim.js';
import { collectGarbage, trimHeap } from './release-memory.js';
import { ScrollbackFreezer } from './scrollback-freezer.js';
import { patchSerializeBoldDim } from './serialize-bold-dim.js';
import type { MirrorMessage, MirrorWorkerData, WorkerMessage } from './mirror-host.js';

// The xterm packages are CommonJS: their classes come off the default export.
const { Terminal } = headless;
const { SerializeAddon } = serialize;
// Bold after dim (and dim after bold+dim) replays exactly: see serialize-bold-dim.ts.
patchSerializeBoldDim(serialize);

if (!parentPort) throw new Error('mirror-worker.ts runs as a worker thread (started by mirror-host.ts)');
const port = parentPort;
const {
  boundaryWaitMs: WAIT_MS,
  progressReportMs: PROGRESS_REPORT_MS,
  freezeIdleMs: FREEZE_IDLE_MS,
} = workerData as MirrorWorkerData;
const NO_BYTES = new Uint8Array(0);
const encoder = new TextEncoder();

type Entry =
  | { kind: 'w'; n: number; seq: number; clean: boolean; bytes: Uint8Array }
  | { kind: 'r'; n: number; seq: number; clean: boolean; cols: number; rows: number };

interface Mirror {
  id: number;
  term: TerminalType;
  ser: SerializeAddonType;
  scrollback: number;
  freezer: ScrollbackFreezer;
  /** fires FREEZE_IDLE_MS after the last output, resize or snapshot */
  idleTimer: NodeJS.Timeout | undefined;
  /** output and resizes waiting for xterm to finish what it was given */
  queue: Entry[];
  /** writes handed to xterm whose callbacks have not run yet */
  submitted: number;
  /** a snapshot was asked for: serve it at an event after this one */
  wantedAfter: number;
  /** last event parsed, and the output offset it ends at */
  n: number;
  seq: number;
  /** the parser is not inside an escape sequence after event n */
  clean: boolean;
  /** events received and not yet reported parsed */
  inFlight: number;
  wanted: boolean;
  /** the boundary wait is over: serve at the next event, clean or not */
  acceptAny: boolean;
  deadline: NodeJS.Timeout | undefined;
  /** output bytes in `queue` */
  queuedBytes: number;
  /** a short queue waits for more (PUMP_MIN_BYTES) */
  lingering: NodeJS.Timeout | undefined;
  disposed: boolean;
}

const terms = new Map<number, Mirror>();
const pumpNeeded = new Set<Mirror>();
const dirty = new Set<Mirror>();
let progressScheduled = false;

function flushProgress(): void {
  progressScheduled = false;
  const out: number[] = [];
  for (const t of dirty) if (!t.disposed) out.push(t.id, t.n, t.seq);
  dirty.clear();
  if (out.length > 0) send(['p', out]);
}

function send(msg: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function parsed(t: Mirror, n: number, seq: number, clean: boolean): void {
  if (t.disposed) return;
  t.inFlight--;
  t.n = n;
  t.seq = seq;
  t.clean = clean;
  // Not before what was queued when it was asked for: a screen from before output that had already arrived
  // would replay an older size and more events than needed.
  if (t.wanted && n >= t.wantedAfter && (clean || t.acceptAny)) serve(t);
  dirty.add(t);
  if (!progressScheduled) {
    progressScheduled = true;
    setTimeout(flushProgress, PROGRESS_REPORT_MS);
  }
}

function serve(t: Mirror): void {
  t.wanted = false;
  t.acceptAny = false;
  clearTimeout(t.deadline);
  t.deadline = undefined;
  t.freezer.thaw();
  touch(t);
  const screen = encoder.encode(t.ser.serialize());
  const buffer = screen.buffer as ArrayBuffer;
  send(['s', t.id, t.n, t.seq, t.term.cols, t.term.rows, buffer], [buffer]);
}

function request(t: Mirror): void {
  if (t.inFlight === 0 && t.clean) return serve(t);
  t.wanted = true;
  t.wantedAfter = t.queue.length > 0 ? (t.queue[t.queue.length - 1] as Entry).n : -1;
  pump(t); // a queue waiting for more goes now
  if (t.deadline) return;
  t.deadline = setTimeout(() => {
    t.deadline = undefined;
    t.acceptAny = true;
    if (t.inFlight === 0 && t.wanted) serve(t);
  }, WAIT_MS);
}

// The host batches: each message is an array of the messages below, in order.
port.on('message', (batch: MirrorMessage[]) => {
  for (const m of batch) handle(m);
  for (const t of pumpNeeded) pump(t);
  pumpNeeded.clear();
});

function submit(t: Mirror, bytes: Uint8Array, onParsed: () => void): void {
  t.submitted++;
  t.term.write(bytes, () => {
    t.submitted--;
    if (t.disposed) return;
    onParsed();
    if (t.submitted === 0) pump(t);
    touch(t);
  });
}

/** (Re)starts the terminal's idle clock. */
function touch(t: Mirror): void {
  if (t.idleTimer) t.idleTimer.refresh();
  else t.idleTimer = setTimeout(() => idle(t), FREEZE_IDLE_MS);
}

/** Nothing happened for FREEZE_IDLE_MS: compress the scrollback (unless something is still under way). */
function idle(t: Mirror): void {
  if (t.disposed) return;
  if (t.submitted > 0 || t.queue.length > 0 || t.wanted) return touch(t);
  const freed = t.freezer.freeze();
  if (freed > 0) releaseSoon(freed);
}

/**
 * Freed cells go back to the kernel TRIM_DELAY_MS after a freeze (sessions often go idle together: one round for
 * all of them), and only once TRIM_MIN_BYTES were freed. A round: a full GC here (the cells' backing stores are
 * freed only with their wrappers), then malloc_trim twice. The first waits SWEEP_WAIT_MS, because V8 frees
 * backing stores on a background thread after the collection: trimmed right after gc(), RSS kept 1–1.6 MB of
 * the 2 MB a session frees in half of the bench runs. The second follows TRIM_AGAIN_MS later, for what the main
 * thread, idle too by then, has collected of the buffers that carried the output.
 */
const TRIM_DELAY_MS = 250;
const SWEEP_WAIT_MS = 1000;
const TRIM_AGAIN_MS = 10_000;
const TRIM_MIN_BYTES = 1024 * 1024;
let freedSinceTrim = 0;
let releasing = false;

function releaseSoon(freed: number): void {
  freedSinceTrim += freed;
  if (freedSinceTrim < TRIM_MIN_BYTES || releasing) return;
  releasing = true;
  // (These timers end with the worker, which the host terminates when the last mirror goes.)
  setTimeout(() => {
    freedSinceTrim = 0;
    releasing = false;
    collectGarbage();
    setTimeout(trimHeap, SWEEP_WAIT_MS);
    setTimeout(trimHeap, TRIM_AGAIN_MS);
  }, TRIM_DELAY_MS);
}

/**
 * Under a flood the worker parses only the last ~2·rows + scrollback lines of each queue (flood-cut.ts), so a queue
 * should be big: parsed as soon as the last one was, a queue held ~100 KB and was parsed almost whole, and the
 * worker took a CPU of the two to keep up (measured: 0.97 s of scanning and 1.8 s of parsing for 50 MB of coloured
 * lines). A queue shorter than PUMP_MIN_BYTES waits up to PUMP_LINGER_MS for more; a snapshot request does not
 * wait. Nothing but replays reads the screen. With 1 MB queues that stop at clean points, 11–13% of 50 MB floods
 * of each kind (plain, coloured, UTF-8, one long line) was parsed; 2 MB queues parsed less but let the mirror's
 * lag reach the 3 MB that pauses the pty (MIRROR_HIGH_BACKLOG_BYTES) more often, and the stream got slower.
 */
const PUMP_MIN_BYTES = 1024 * 1024;
const PUMP_LINGER_MS = 25;

function pumpLater(t: Mirror): void {
  t.lingering ??= setTimeout(() => {
    t.lingering = undefined;
    pump(t, true); // waited long enough: go with what there is
  }, PUMP_LINGER_MS);
}

function pump(t: Mirror, force = false): void {
  if (t.submitted > 0 || t.disposed || t.queue.length === 0) return;
  const now = force || t.wanted;
  if (t.queuedBytes < PUMP_MIN_BYTES && !now) {
    pumpLater(t);
    return;
  }
  clearTimeout(t.lingering);
  t.lingering = undefined;
  let q = t.queue;
  t.queue = [];
  t.queuedBytes = 0;
  if (!t.wanted) {
    // Stop where the stream is clean (a pty read often ends inside an escape sequence or a character), so that the
    // next queue starts clean and its flood can be cut too; the rest waits for it, or for the next PUMP_LINGER_MS
    // when nothing else comes (then the queue has no clean end and goes whole).
    let end = q.length;
    while (end > 0 && !(q[end - 1] as Entry).clean) end--;
    if (end > 0 && end < q.length) {
      t.queue = q.slice(end);
      for (const e of t.queue) if (e.kind === 'w') t.queuedBytes += e.bytes.length;
      q = q.slice(0, end);
      pumpLater(t);
    }
  }
  let i = 0;
  // t.clean: the parser is not inside an escape sequence where the queue starts (nothing is being parsed now).
  const options = t.clean ? cutOptions(t.term, t.scrollback) : null;
  if (options) {
    let leading = 0;
    while (leading < q.length && (q[leading] as Entry).kind === 'w') leading++;
    const writes = q.slice(0, leading) as Extract<Entry, { kind: 'w' }>[];
    const cut =
      leading > 0
        ? cutFlood(
            writes.map((e) => e.bytes),
            options,
          )
        : null;
    if (cut) {
      const last = writes[cut.endEntry] as Extract<Entry, { kind: 'w' }>;
      const whole = cut.endOffset === last.bytes.length;
      const parts: Uint8Array[] = cut.prefix.length > 0 ? [cut.prefix] : [];
      for (let k = cut.entry; k <= cut.endEntry; k++) {
        const bytes = (writes[k] as Extract<Entry, { kind: 'w' }>).bytes;
        const from = k === cut.entry ? cut.offset : 0;
        const to = k === cut.endEntry ? cut.endOffset : bytes.length;
        if (to > from) parts.push(bytes.subarray(from, to));
      }
      // Entries fully inside the flood are done without a report of their own; the one it ends with reports
      // (or, if the flood ends inside it, its rest is parsed and reports as usual).
      // The parts go to xterm as written, not joined: its UTF-8 decoder is not quite independent of where writes
      // end (see flood-cut.ts), and a client's terminal got them as these writes too.
      t.inFlight -= cut.endEntry;
      for (let k = 0; k < parts.length - 1; k++) submit(t, parts[k] as Uint8Array, () => {});
      const lastPart = parts.length > 0 ? (parts[parts.length - 1] as Uint8Array) : NO_BYTES;
      if (whole) submit(t, lastPart, () => parsed(t, last.n, last.seq, last.clean));
      else {
        submit(t, lastPart, () => {});
        q[cut.endEntry] = {
          kind: 'w',
          n: last.n,
          seq: last.seq,
          clean: last.clean,
          bytes: last.bytes.subarray(cut.endOffset),
        };
      }
      i = whole ? cut.endEntry + 1 : cut.endEntry;
    }
  }
  for (; i < q.length; i++) {
    const e = q[i] as Entry;
    if (e.kind === 'w') submit(t, e.bytes, () => parsed(t, e.n, e.seq, e.clean));
    else
      submit(t, NO_BYTES, () => {
        t.freezer.thaw(); // a resize reflows and moves every line
        t.term.resize(e.cols, e.rows);
        parsed(t, e.n, e.seq, e.clean);
      });
  }
}

function handle(m: MirrorMessage): void {
  const id = m[1];
  if (m[0] === 'm') {
    let frozenLines = 0;
    let liveLines = 0;
    let packedBytes = 0;
    for (const t of terms.values()) {
      frozenLines += t.freezer.frozenLines;
      liveLines += t.freezer.liveLines;
      packedBytes += t.freezer.packedBytes;
    }
    const heap = getHeapStatistics();
    return send(['m', id, terms.size, frozenLines, liveLines, packedBytes, heap.used_heap_size, heap.total_heap_size]);
  }
  if (m[0] === 'c') {
    const term = new Terminal({ cols: m[2], rows: m[3], scrollback: m[4], allowProposedApi: true });
    const ser = new SerializeAddon();
    term.loadAddon(ser);
    terms.set(id, {
      id,
      term,
      ser,
      scrollback: m[4],
      freezer: new ScrollbackFreezer(term),
      idleTimer: undefined,
      queue: [],
      submitted: 0,
      wantedAfter: -1,
      n: -1,
      seq: 0,
      clean: true,
      inFlight: 0,
      wanted: false,
      acceptAny: false,
      deadline: undefined,
      queuedBytes: 0,
      lingering: undefined,
      disposed: false,
    });
    return;
  }
  const t = terms.get(id);
  if (!t) return;
  switch (m[0]) {
    case 'w':
      t.inFlight++;
      t.queue.push({ kind: 'w', n: m[2], seq: m[3], clean: m[4], bytes: new Uint8Array(m[5]) });
      t.queuedBytes += m[5].byteLength;
      pumpNeeded.add(t);
      return touch(t);
    case 'r':
      t.inFlight++;
      t.queue.push({ kind: 'r', n: m[2], seq: m[3], clean: m[4], cols: m[5], rows: m[6] });
      pumpNeeded.add(t);
      return touch(t);
    case 's':
      return request(t);
    case 'x':
      t.disposed = true;
      clearTimeout(t.deadline);
      clearTimeout(t.lingering);
      clearTimeout(t.idleTimer);
      t.freezer.dispose();
      terms.delete(id);
      dirty.delete(t);
      t.term.dispose();
      return;
  }
}
