// The replay mirrors' worker thread: it hosts the headless xterm of every session and parses their output, so
// that parsing (the bulk of the server's CPU time under a flood) runs beside the main thread instead of on it.
//
// Started from source text (`eval: true`) like scan-pool.ts: that also works under vitest, where no compiled .js
// sits next to this module. The xterm packages are CommonJS, required by the absolute paths the host resolved.
//
// Protocol (arrays, to keep the structured clone small). Main → worker, batched per event-loop turn:
//   ['c', id, cols, rows, scrollback]          create a terminal
//   ['w', id, n, endSeq, clean, ArrayBuffer]    output event n (transferred bytes), ending at output offset endSeq
//   ['r', id, n, endSeq, clean, cols, rows]     resize event n, in stream order
//   ['s', id]                                  snapshot at the next clean cut (or any cut after the wait)
//   ['x', id]                                  dispose
// Worker → main:
//   ['p', [id, n, seq, ...]]                   events up to n (output up to seq) are parsed; coalesced over a
//                                              few ms across all terminals (each message costs main-thread time)
//   ['s', id, n, seq, cols, rows, ArrayBuffer]  the screen (UTF-8) exactly after event n
//
// Each xterm write callback runs right after its chunk is parsed and before the next one, so inside it the
// screen corresponds exactly to that event: the snapshot is taken there, and the main thread pairs it with the
// events after n that it still holds (see screen-mirror.ts).
//
// Output queues per terminal while xterm is still parsing what it was given, and goes to it as one batch when it
// is done. Keeping up, that is every chunk at once; falling behind in a flood, the batches grow (up to the
// mirror backlog that pauses output, flow-gate.ts) and most of each can be skipped: if the queue starts with a
// plain-text flood, the part that the rest of the flood scrolls out of the buffer is dropped unparsed
// (flood-cut.ts), and the entries inside it report no progress of their own — their screens were never built,
// so no snapshot may be taken at them.
import { floodCut } from './flood-cut.js';

export const MIRROR_WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { Terminal } = require(workerData.headless);
const { SerializeAddon } = require(workerData.serialize);
const WAIT_MS = workerData.boundaryWaitMs;
const PROGRESS_REPORT_MS = workerData.progressReportMs;
const NO_BYTES = new Uint8Array(0);
const encoder = new TextEncoder();
const terms = new Map();
const pumpNeeded = new Set();

const floodCut = (${floodCut.toString()});
const dirty = new Set();
let progressScheduled = false;

function flushProgress() {
  progressScheduled = false;
  const out = [];
  for (const t of dirty) if (!t.disposed) out.push(t.id, t.n, t.seq);
  dirty.clear();
  if (out.length > 0) parentPort.postMessage(['p', out]);
}

function parsed(t, n, seq, clean) {
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

function serve(t) {
  t.wanted = false;
  t.acceptAny = false;
  clearTimeout(t.deadline);
  t.deadline = undefined;
  const screen = encoder.encode(t.ser.serialize());
  parentPort.postMessage(['s', t.id, t.n, t.seq, t.term.cols, t.term.rows, screen.buffer], [screen.buffer]);
}

function request(t) {
  if (t.inFlight === 0 && t.clean) return serve(t);
  t.wanted = true;
  t.wantedAfter = t.queue.length > 0 ? t.queue[t.queue.length - 1].n : -1;
  if (t.deadline) return;
  t.deadline = setTimeout(() => {
    t.deadline = undefined;
    t.acceptAny = true;
    if (t.inFlight === 0 && t.wanted) serve(t);
  }, WAIT_MS);
}

// The host batches: each message is an array of the messages below, in order.
parentPort.on('message', (batch) => {
  for (const m of batch) handle(m);
  for (const t of pumpNeeded) pump(t);
  pumpNeeded.clear();
});

/** Plain text can be skipped only where nothing but line feeds moves lines out: see flood-cut.ts. */
function skippable(t) {
  const core = t.term._core;
  const b = core && core.buffer;
  if (!b || typeof b.scrollTop !== 'number') return false; // xterm internals changed: parse everything
  return t.term.buffer.active.type === 'normal' && b.scrollTop === 0 && b.scrollBottom === t.term.rows - 1 && !t.term.modes.insertMode;
}

function submit(t, bytes, onParsed) {
  t.submitted++;
  t.term.write(bytes, () => {
    t.submitted--;
    if (t.disposed) return;
    onParsed();
    if (t.submitted === 0) pump(t);
  });
}

function pump(t) {
  if (t.submitted > 0 || t.disposed || t.queue.length === 0) return;
  const q = t.queue;
  t.queue = [];
  let i = 0;
  // t.clean: the parser is not inside an escape sequence where the queue starts (nothing is being parsed now).
  if (t.clean && skippable(t)) {
    let plain = 0;
    while (plain < q.length && q[plain].kind === 'w') plain++;
    const cut = plain > 0 ? floodCut(q.slice(0, plain).map((e) => e.bytes), 2 * t.term.rows + t.scrollback + 2) : null;
    if (cut) {
      const last = q[cut.endEntry];
      const whole = cut.endOffset === last.bytes.length;
      const parts = [];
      for (let k = cut.entry; k <= cut.endEntry; k++) {
        const from = k === cut.entry ? cut.offset : 0;
        const to = k === cut.endEntry ? cut.endOffset : q[k].bytes.length;
        if (to > from) parts.push(q[k].bytes.subarray(from, to));
      }
      // Entries fully inside the flood are done without a report of their own; the one it ends with reports
      // (or, if the flood ends inside it, its rest is parsed and reports as usual).
      t.inFlight -= cut.endEntry;
      const joined = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (whole) submit(t, joined, () => parsed(t, last.n, last.seq, last.clean));
      else {
        submit(t, joined, () => {});
        q[cut.endEntry] = { kind: 'w', n: last.n, seq: last.seq, clean: last.clean, bytes: last.bytes.subarray(cut.endOffset) };
      }
      i = whole ? cut.endEntry + 1 : cut.endEntry;
    }
  }
  for (; i < q.length; i++) {
    const e = q[i];
    if (e.kind === 'w') submit(t, e.bytes, () => parsed(t, e.n, e.seq, e.clean));
    else
      submit(t, NO_BYTES, () => {
        t.term.resize(e.cols, e.rows);
        parsed(t, e.n, e.seq, e.clean);
      });
  }
}

function handle(m) {
  const id = m[1];
  if (m[0] === 'c') {
    const term = new Terminal({ cols: m[2], rows: m[3], scrollback: m[4], allowProposedApi: true });
    const ser = new SerializeAddon();
    term.loadAddon(ser);
    terms.set(id, { id, term, ser, scrollback: m[4], queue: [], submitted: 0, wantedAfter: -1, n: -1, seq: 0, clean: true, inFlight: 0, wanted: false, acceptAny: false, deadline: undefined, disposed: false });
    return;
  }
  const t = terms.get(id);
  if (!t) return;
  switch (m[0]) {
    case 'w':
      t.inFlight++;
      t.queue.push({ kind: 'w', n: m[2], seq: m[3], clean: m[4], bytes: new Uint8Array(m[5]) });
      pumpNeeded.add(t);
      return;
    case 'r':
      t.inFlight++;
      t.queue.push({ kind: 'r', n: m[2], seq: m[3], clean: m[4], cols: m[5], rows: m[6] });
      pumpNeeded.add(t);
      return;
    case 's':
      return request(t);
    case 'x':
      t.disposed = true;
      clearTimeout(t.deadline);
      terms.delete(id);
      dirty.delete(t);
      t.term.dispose();
      return;
  }
}
`;
