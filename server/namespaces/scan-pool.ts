// Splitting /proc reads between the main thread and one worker thread. A list on a busy machine is thousands
// of readlinks and a mountinfo read per mount namespace — all syscalls, all independent — so two threads
// finish in a little over half the time (the bar is half of lsns). Small jobs stay on the main thread:
// a message round trip costs more than a few hundred readlinks.
//
// The jobs are plain functions that use only their arguments, so the very same code runs on both threads:
// the worker is started from their source text (`eval: true`), which also works under vitest, where no
// compiled .js file sits next to this module.
import * as nodeFs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';

type Fs = typeof nodeFs;

/**
 * Each pid × type: the link text (`mnt:[4026531841]`), or `!CODE` when it could not be read.
 * Must stay self-contained: it is also run from its source text in the worker.
 */
export function readNsLinksJob(fs: Fs, pids: readonly number[], types: readonly string[]): string[] {
  const out: string[] = [];
  for (const pid of pids) {
    for (const type of types) {
      try {
        out.push(fs.readlinkSync('/proc/' + pid + '/ns/' + type));
      } catch (e) {
        out.push('!' + ((e as { code?: string }).code ?? 'EIO'));
      }
    }
  }
  return out;
}

export interface NsfsJobItem {
  mnt: string;
  pids: readonly number[];
}
/** `identity`: the namespace's nsfs inode and its ctime, which tell it from a later one that reuses the inode. */
export type NsfsJobResult = { pid: number; lines: string[]; identity: string } | null;

/**
 * For each mount namespace: the nsfs lines of its mountinfo, read through the first listed process that is
 * still in it after the read (so the text is that namespace's). Self-contained, like readNsLinksJob.
 */
export function readNsfsLinesJob(fs: Fs, items: readonly NsfsJobItem[], maxAttempts: number): NsfsJobResult[] {
  const out: NsfsJobResult[] = [];
  for (const item of items) {
    const want = 'mnt:[' + item.mnt.slice(4) + ']';
    let found: NsfsJobResult = null;
    for (const pid of item.pids.slice(0, maxAttempts)) {
      let text: string;
      let identity: string;
      try {
        text = fs.readFileSync('/proc/' + pid + '/mountinfo', 'utf8');
        if (fs.readlinkSync('/proc/' + pid + '/ns/mnt') !== want) continue;
        const st = fs.statSync('/proc/' + pid + '/ns/mnt', { bigint: true });
        identity = st.ino + ':' + st.ctimeNs;
      } catch {
        continue; // exited under us: try the next process
      }
      const lines: string[] = [];
      if (text.includes(' - nsfs ')) for (const line of text.split('\n')) if (line.includes(' - nsfs ')) lines.push(line);
      found = { pid, lines, identity };
      break;
    }
    out.push(found);
  }
  return out;
}

const JOBS = { links: readNsLinksJob, nsfs: readNsfsLinesJob } as const;
type JobName = keyof typeof JOBS;

const WORKER_SOURCE = `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const jobs = { links: (${readNsLinksJob.toString()}), nsfs: (${readNsfsLinesJob.toString()}) };
parentPort.on('message', (m) => {
  try { parentPort.postMessage({ id: m.id, result: jobs[m.job](fs, m.items, m.arg) }); }
  catch (e) { parentPort.postMessage({ id: m.id, error: String(e && e.stack || e) }); }
});`;

/**
 * Work is counted in readlinks (~1.5 µs each). Below this much (~3 ms) a job runs on the main thread alone:
 * waking the worker and copying results costs more than it saves, and idle watching must stay cheap.
 */
const DEFAULT_MIN_WORK_FOR_WORKER = 2048;
/** One small mountinfo read costs about as much as this many readlinks (measured: ~40 µs vs ~1.5 µs). */
const MOUNTINFO_READ_WEIGHT = 30;

export class ScanPool {
  private worker: Worker | null = null;
  private workerBroken = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(
    private readonly log: Logger,
    private readonly minWorkForWorker = DEFAULT_MIN_WORK_FOR_WORKER,
  ) {}

  links(pids: readonly number[], types: readonly string[]): Promise<string[]> {
    return this.split('links', pids, types, (part) => readNsLinksJob(nodeFs, part, types), types.length) as Promise<string[]>;
  }

  nsfs(items: readonly NsfsJobItem[], maxAttempts: number): Promise<NsfsJobResult[]> {
    return this.split('nsfs', items, maxAttempts, (part) => readNsfsLinesJob(nodeFs, part, maxAttempts), MOUNTINFO_READ_WEIGHT) as Promise<NsfsJobResult[]>;
  }

  dispose(): void {
    void this.worker?.terminate();
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new Error('scan pool disposed'));
    this.pending.clear();
  }

  /** First half on this thread, second half on the worker, results in item order. */
  private async split<T, R>(job: JobName, items: readonly T[], arg: unknown, local: (part: readonly T[]) => R[], weight: number): Promise<R[]> {
    const worker = items.length * weight >= this.minWorkForWorker ? this.ensureWorker() : null;
    if (!worker) return local(items);
    const half = items.length >> 1;
    const remote = this.post(worker, job, items.slice(half), arg) as Promise<R[]>;
    const mine = local(items.slice(0, half));
    try {
      return mine.concat(await remote);
    } catch (err) {
      // The worker failed this once: do its half here rather than fail the scan.
      this.log.warn({ err }, 'scan worker failed; scanning on the main thread');
      return mine.concat(local(items.slice(half)));
    }
  }

  private post(worker: Worker, job: JobName, items: readonly unknown[], arg: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced only while it has work: a scan in flight must keep the process alive, an idle worker not.
      worker.ref();
      worker.postMessage({ id, job, items, arg });
    });
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.workerBroken) return this.worker;
    try {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      // An idle worker must not keep the process alive, nor a finished test.
      w.unref();
      w.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (this.pending.size === 0) w.unref();
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
