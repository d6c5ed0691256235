// Splitting /proc reads between the main thread and one worker thread. A list on a busy machine is thousands
// of readlinks and a mountinfo read per mount namespace — all syscalls, all independent — so two threads
// finish in a little over half the time (the bar is half of lsns). Small jobs stay on the main thread:
// a message round trip costs more than a few hundred readlinks.
//
// The split is not fixed halves: both threads take small chunks from one shared counter (work stealing). On a
// busy machine the worker often gets no CPU for milliseconds; a fixed half left the main thread idle waiting
// for it (measured: 13 ms of a 44 ms list). Now the main thread takes whatever the worker has not started, and
// waits only when the worker is in the middle of a chunk.
//
// The jobs (scan-jobs.ts) are plain functions of their arguments, so the very same code runs on both threads;
// the worker (scan-worker.ts) is a module of its own, run from its compiled file (see scanWorkerUrl).
import * as nodeFs from 'node:fs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { COMMAND_MAX_BYTES } from '../../shared/constants.js';
import {
  claimChunks,
  JOBS,
  type AnyJob,
  type FactsJobResult,
  type JobName,
  type MountinfoJobItem,
  type MountinfoJobResult,
  type NsfsJobArg,
  type NsfsJobItem,
  type NsfsJobResult,
  type PageJobItem,
  type ReadCaps,
} from './scan-jobs.js';
import type { MountPageJson } from '../mounts/mountinfo.js';
import { currentMeter, measured, type CostMeter } from './scan-cost.js';

/** What the pool logs through (the server's pino logger is one): proc/ imports nothing else of the server. */
export interface WarnLog {
  warn(obj: object, msg: string): void;
}

/**
 * The compiled worker beside this module (dist/server/proc/). Under vitest this module runs from its .ts
 * source, where no .js sits beside it: then the build's copy, which vitest's global setup
 * (test/helpers/build-once.ts) compiles before any test runs, so it matches the sources.
 */
export function scanWorkerUrl(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = fromSource
    ? new URL('../../dist/server/proc/scan-worker.js', import.meta.url)
    : new URL('./scan-worker.js', import.meta.url);
  if (!existsSync(fileURLToPath(url)))
    throw new Error(`the scan worker is not built (${fileURLToPath(url)}): run npm run build`);
  return url;
}

/**
 * Work is counted in readlinks (~1.5 µs each). Below this much (~3 ms) a job runs on the main thread alone:
 * waking the worker and copying results costs more than it saves, and idle watching must stay cheap.
 */
const DEFAULT_MIN_WORK_FOR_WORKER = 2048;
/** A stat and one or two small reads. */
const FACTS_WEIGHT = 10;
/** Chunk sizes: ~0.1-0.3 ms of work each, so neither thread is left holding a long tail. */
const PIDS_PER_CHUNK = 16;
const FACTS_PER_CHUNK = 8;
/**
 * Mount tables are read on the worker only: their size and the kernel's time to print them are in the hands of
 * whoever owns the namespace (issue #16: 20k stacked binds took 4.7 s of system time per read, on the main
 * thread, freezing every terminal). A table read for the nsfs scan stops at this many bytes or this much time;
 * the row then says its table was cut (nsfs binds past the cut are not listed).
 */
export const NSFS_READ_CAPS: ReadCaps = { maxBytes: 16 * 1024 * 1024, budgetMs: 100 };
/**
 * A table someone asked to see (REST, a watcher). 2 MiB is ~16k ordinary mounts (a 5,000-mount table is
 * ~600 kB); past that, or past the time budget, the table is marked truncated. Its page is parsed and sent
 * from the main thread: 2 MiB keeps that to tens of ms (4 MiB of 7.8 kB lines put echo p99 at ~200 ms).
 */
export const TABLE_READ_CAPS: ReadCaps = { maxBytes: 2 * 1024 * 1024, budgetMs: 250 };

export class ScanPool {
  private worker: Worker | null = null;
  private workerBroken = false;
  private disposed = false;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: Error): void; meter: CostMeter | undefined }
  >();

  constructor(
    private readonly log: WarnLog,
    private readonly minWorkForWorker = DEFAULT_MIN_WORK_FOR_WORKER,
  ) {}

  links(pids: readonly number[], types: readonly string[]): Promise<string[]> {
    return this.split('links', pids, types, PIDS_PER_CHUNK, types.length) as Promise<string[]>;
  }

  /** Like links(), as numbers: see readNsInodesJob. */
  inodes(pids: readonly number[], types: readonly string[]): Promise<number[]> {
    return this.split('inodes', pids, types, PIDS_PER_CHUNK, types.length) as Promise<number[]>;
  }

  nsfs(items: readonly NsfsJobItem[], maxAttempts: number, caps: ReadCaps = NSFS_READ_CAPS): Promise<NsfsJobResult[]> {
    const arg: NsfsJobArg = { maxAttempts, ...caps };
    return this.offMain('nsfs', items, arg) as Promise<NsfsJobResult[]>;
  }

  /** Whole mount tables (see readMountinfoJob), on the worker. */
  mountinfo(
    items: readonly MountinfoJobItem[],
    maxAttempts: number,
    caps: ReadCaps = TABLE_READ_CAPS,
  ): Promise<MountinfoJobResult[]> {
    const arg: NsfsJobArg = { maxAttempts, ...caps };
    return this.offMain('mountinfo', items, arg) as Promise<MountinfoJobResult[]>;
  }

  /** A watched table's first page, parsed and serialized on the worker (see mountPageJson). */
  async page(item: PageJobItem): Promise<MountPageJson> {
    const [page] = (await this.offMain('page', [item], null)) as MountPageJson[];
    return page as MountPageJson;
  }

  facts(pids: readonly number[]): Promise<FactsJobResult[]> {
    return this.split('facts', pids, COMMAND_MAX_BYTES, FACTS_PER_CHUNK, FACTS_WEIGHT) as Promise<FactsJobResult[]>;
  }

  dispose(): void {
    this.disposed = true;
    // Swallow: terminate() only rejects for a worker that is already gone.
    this.worker?.terminate().catch(() => undefined);
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new Error('scan pool disposed'));
    this.pending.clear();
  }

  /**
   * All of a job on the worker; on the main thread only when no worker can run (then still within the job's
   * caps). A job waits for the one before it on the worker: each is bounded by its caps.
   */
  private async offMain(job: JobName, items: readonly unknown[], arg: unknown): Promise<unknown[]> {
    if (items.length === 0) return [];
    const worker = this.ensureWorker();
    if (worker) {
      try {
        const ctl = new Int32Array(new SharedArrayBuffer(4));
        return assemble((await this.post(worker, { job, items, arg, ctl, chunk: items.length })) as unknown[]);
      } catch (err) {
        if (this.disposed) throw err;
        this.log.warn({ err }, 'scan worker failed; reading on the main thread');
      }
    }
    return measured(() => (JOBS[job] as AnyJob)(nodeFs, items, arg));
  }

  /** Both threads take chunks until none are left; results in item order. */
  private async split(
    job: JobName,
    items: readonly unknown[],
    arg: unknown,
    chunk: number,
    weight: number,
  ): Promise<unknown[]> {
    const run = JOBS[job] as AnyJob;
    const worker = items.length * weight >= this.minWorkForWorker ? this.ensureWorker() : null;
    if (!worker) return measured(() => run(nodeFs, items, arg));
    const ctl = new Int32Array(new SharedArrayBuffer(4));
    const remote = this.post(worker, { job, items, arg, ctl, chunk }) as Promise<unknown[]>;
    const mine = measured(() => claimChunks(run, nodeFs, items, arg, ctl, chunk));
    let done = 0;
    for (let i = 0; i < mine.length; i += 2) done += Math.min(chunk, items.length - (mine[i] as number));
    // The worker took nothing (still asleep, or busy with an earlier job): do not wait for it to say so.
    if (done === items.length) {
      remote.catch(() => undefined); // Swallow: its answer is not needed
      return assemble(mine);
    }
    let theirs: unknown[];
    try {
      theirs = await remote;
    } catch (err) {
      // The worker failed this once: redo what it took here rather than fail the scan.
      this.log.warn({ err }, 'scan worker failed; scanning on the main thread');
      theirs = [];
      const covered = new Set<number>();
      for (let i = 0; i < mine.length; i += 2) covered.add(mine[i] as number);
      for (let from = 0; from < items.length; from += chunk)
        if (!covered.has(from))
          theirs.push(
            from,
            measured(() => run(nodeFs, items.slice(from, from + chunk), arg)),
          );
    }
    return assemble(mine.concat(theirs));
  }

  private post(
    worker: Worker,
    message: { job: JobName; items: readonly unknown[]; arg: unknown; ctl: Int32Array; chunk: number },
  ): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // The job's cost goes to the scan that asked for it (scan-cost.ts), whatever else the worker does.
      this.pending.set(id, { resolve, reject, meter: currentMeter() });
      // Referenced only while it has work: a scan in flight must keep the process alive, an idle worker not.
      worker.ref();
      worker.postMessage({ id, ...message });
    });
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.workerBroken || this.disposed) return this.worker;
    try {
      const w = new Worker(scanWorkerUrl());
      // An idle worker must not keep the process alive, nor a finished test.
      w.unref();
      w.on('message', (m: { id: number; result?: unknown; error?: string; cpuMs?: number }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (this.pending.size === 0) w.unref();
        if (p?.meter && m.cpuMs !== undefined) p.meter.ms += m.cpuMs;
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      });
      w.on('error', (err) => this.failWorker(w, err));
      w.on('exit', () => this.failWorker(w, new Error('scan worker exited')));
      this.worker = w;
    } catch (err) {
      this.log.warn({ err }, 'cannot start a scan worker; scanning on the main thread only');
      this.workerBroken = true;
    }
    return this.worker;
  }

  private failWorker(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** [from, results, …] from both threads → one array in item order. */
function assemble(parts: unknown[]): unknown[] {
  const order: number[] = [];
  for (let i = 0; i < parts.length; i += 2) order.push(i);
  order.sort((a, b) => (parts[a] as number) - (parts[b] as number));
  const out: unknown[] = [];
  for (const i of order) for (const r of parts[i + 1] as unknown[]) out.push(r);
  return out;
}
