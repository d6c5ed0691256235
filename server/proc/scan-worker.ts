// The scan pool's worker thread (scan-pool.ts): it runs the very jobs of scan-jobs.ts, taking chunks from the
// counter it shares with the main thread. A module of its own, run from its compiled file (scan-pool.ts starts
// dist/…/scan-worker.js; under vitest, which runs the .ts sources, the build's copy: vitest's global setup
// builds it first).
import * as fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { threadCpuMs } from './scan-cost.js';
import { claimChunks, JOBS, type AnyJob, type JobName } from './scan-jobs.js';

interface JobMessage {
  id: number;
  job: JobName;
  items: readonly unknown[];
  arg: unknown;
  ctl: Int32Array;
  chunk: number;
}

const port = parentPort;
if (!port) throw new Error('scan-worker.ts runs as a worker thread (scan-pool.ts starts it)');

// Each answer says what the job cost this thread (scan-cost.ts): the pool charges it to the scan that asked.
port.on('message', (m: JobMessage) => {
  const t0 = threadCpuMs();
  try {
    const result = claimChunks(JOBS[m.job] as AnyJob, fs, m.items, m.arg, m.ctl, m.chunk);
    port.postMessage({ id: m.id, result, cpuMs: threadCpuMs() - t0 });
  } catch (e) {
    // Not swallowed: the pool rejects this job with it and redoes the work on the main thread.
    port.postMessage({ id: m.id, error: String((e instanceof Error && e.stack) || e) });
  }
});
