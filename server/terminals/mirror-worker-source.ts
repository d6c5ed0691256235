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
  if (t.wanted && (clean || t.acceptAny)) serve(t);
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
});

function handle(m) {
  const id = m[1];
  if (m[0] === 'c') {
    const term = new Terminal({ cols: m[2], rows: m[3], scrollback: m[4], allowProposedApi: true });
    const ser = new SerializeAddon();
    term.loadAddon(ser);
    terms.set(id, { id, term, ser, n: -1, seq: 0, clean: true, inFlight: 0, wanted: false, acceptAny: false, deadline: undefined, disposed: false });
    return;
  }
  const t = terms.get(id);
  if (!t) return;
  switch (m[0]) {
    case 'w': {
      const n = m[2], seq = m[3], clean = m[4];
      t.inFlight++;
      t.term.write(new Uint8Array(m[5]), () => parsed(t, n, seq, clean));
      return;
    }
    case 'r': {
      const n = m[2], seq = m[3], clean = m[4], cols = m[5], rows = m[6];
      t.inFlight++;
      t.term.write(NO_BYTES, () => {
        if (!t.disposed) t.term.resize(cols, rows);
        parsed(t, n, seq, clean);
      });
      return;
    }
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
