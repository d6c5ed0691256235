// Splitting /proc reads between the main thread and one worker thread. A list on a busy machine is thousands
// of readlinks and a mountinfo read per mount namespace — all syscalls, all independent — so two threads
// finish in a little over half the time (the issue's bar is half of lsns). Small jobs stay on the main thread:
// a message round trip costs more than a few hundred readlinks.
//
// The split is not fixed halves: both threads take small chunks from one shared counter (work stealing). On a
// busy machine the worker often gets no CPU for milliseconds; a fixed half left the main thread idle waiting
// for it (measured: 13 ms of a 44 ms list). Now the main thread takes whatever the worker has not started, and
// waits only when the worker is in the middle of a chunk.
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

/** Error codes as negative numbers in readNsInodesJob's answer: -1 is ERRNO_CODES[1], and so on. */
export const ERRNO_CODES = ['', 'ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'EINVAL', 'ENOTDIR', 'ELOOP', 'ENOMEM', 'EIO'] as const;

/**
 * Each pid × type: the namespace inode (namespace inodes are 32-bit), 0 for a link without one, or
 * -index into ERRNO_CODES. Numbers, not link texts: cheaper to copy back from the worker and to group by.
 * Self-contained, like readNsLinksJob (which is why the code table is repeated here).
 */
export function readNsInodesJob(fs: Fs, pids: readonly number[], types: readonly string[]): number[] {
  const codes = ['', 'ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'EINVAL', 'ENOTDIR', 'ELOOP', 'ENOMEM', 'EIO'];
  const out: number[] = [];
  for (const pid of pids) {
    const dir = '/proc/' + pid + '/ns/';
    for (const type of types) {
      try {
        const link = fs.readlinkSync(dir + type);
        const open = link.indexOf('[');
        out.push(open > 0 ? Number(link.slice(open + 1, -1)) || 0 : 0);
      } catch (e) {
        const at = codes.indexOf((e as { code?: string }).code ?? 'EIO');
        out.push(at > 0 ? -at : -(codes.length - 1));
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
 * The table stays bytes, read into one reused buffer: only the rare nsfs lines are found (a byte search) and
 * decoded. Decoding every table made ~1 MB of strings per list, and the garbage collector was ~10% of a list.
 */
export function readNsfsLinesJob(fs: Fs, items: readonly NsfsJobItem[], maxAttempts: number): NsfsJobResult[] {
  const g = globalThis as { nsconsoleScratch?: Buffer };
  const readAll = (path: string): Buffer => {
    const fd = fs.openSync(path, 'r');
    try {
      let buf = (g.nsconsoleScratch ??= Buffer.allocUnsafe(256 * 1024));
      let n = 0;
      for (;;) {
        if (n === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, n);
          g.nsconsoleScratch = buf = bigger;
        }
        const got = fs.readSync(fd, buf, n, buf.length - n, null);
        if (got === 0) return buf.subarray(0, n);
        n += got;
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  const out: NsfsJobResult[] = [];
  for (const item of items) {
    const want = 'mnt:[' + item.mnt.slice(4) + ']';
    let found: NsfsJobResult = null;
    for (const pid of item.pids.slice(0, maxAttempts)) {
      let raw: Buffer;
      let identity: string;
      try {
        raw = readAll('/proc/' + pid + '/mountinfo');
        if (fs.readlinkSync('/proc/' + pid + '/ns/mnt') !== want) continue;
        const st = fs.statSync('/proc/' + pid + '/ns/mnt', { bigint: true });
        identity = st.ino + ':' + st.ctimeNs;
      } catch {
        continue; // exited under us: try the next process
      }
      const lines: string[] = [];
      for (let at = raw.indexOf(' - nsfs '); at !== -1; at = raw.indexOf(' - nsfs ', at + 1)) {
        const start = raw.lastIndexOf(10, at) + 1;
        const end = raw.indexOf(10, at);
        lines.push(raw.toString('utf8', start, end === -1 ? raw.length : end));
      }
      found = { pid, lines, identity };
      break;
    }
    out.push(found);
  }
  return out;
}

/** lsns's USER is the owner of /proc/PID (here its uid); its COMMAND the command line, or the kernel thread's name. */
export type FactsJobResult = { uid: number; command: string } | { error: string };

/** Self-contained, like readNsLinksJob. */
export function readFactsJob(fs: Fs, pids: readonly number[]): FactsJobResult[] {
  const out: FactsJobResult[] = [];
  for (const pid of pids) {
    try {
      const uid = fs.statSync('/proc/' + pid).uid;
      const raw = fs.readFileSync('/proc/' + pid + '/cmdline', 'latin1');
      let command = Buffer.from(raw.replace(/\0+$/, '').replaceAll('\0', ' '), 'latin1').toString('utf8');
      if (command === '') command = fs.readFileSync('/proc/' + pid + '/comm', 'utf8').replace(/\n$/, '');
      out.push({ uid, command });
    } catch (e) {
      out.push({ error: (e as { code?: string }).code ?? String(e) });
    }
  }
  return out;
}

/**
 * Take chunks of `items` from the shared counter until none are left. Returns [from, results, from, results…].
 * Self-contained: runs on both threads.
 */
export function claimChunks(job: (fs: Fs, items: readonly unknown[], arg: unknown) => unknown[], fs: Fs, items: readonly unknown[], arg: unknown, ctl: Int32Array, chunk: number): unknown[] {
  const parts: unknown[] = [];
  for (;;) {
    const from = Atomics.add(ctl, 0, chunk);
    if (from >= items.length) return parts;
    parts.push(from, job(fs, items.slice(from, from + chunk), arg));
  }
}

const JOBS = { links: readNsLinksJob, inodes: readNsInodesJob, nsfs: readNsfsLinesJob, facts: readFactsJob } as const;
type JobName = keyof typeof JOBS;
type AnyJob = (fs: Fs, items: readonly unknown[], arg: unknown) => unknown[];

const WORKER_SOURCE = `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const claimChunks = (${claimChunks.toString()});
const jobs = { ${Object.entries(JOBS)
  .map(([name, fn]) => `${name}: (${fn.toString()})`)
  .join(', ')} };
parentPort.on('message', (m) => {
  try { parentPort.postMessage({ id: m.id, result: claimChunks(jobs[m.job], fs, m.items, m.arg, m.ctl, m.chunk) }); }
  catch (e) { parentPort.postMessage({ id: m.id, error: String(e && e.stack || e) }); }
});`;

/**
 * Work is counted in readlinks (~1.5 µs each). Below this much (~3 ms) a job runs on the main thread alone:
 * waking the worker and copying results costs more than it saves, and idle watching must stay cheap.
 */
const DEFAULT_MIN_WORK_FOR_WORKER = 2048;
/** One small mountinfo read costs about as much as this many readlinks (measured: ~40 µs vs ~1.5 µs). */
const MOUNTINFO_READ_WEIGHT = 30;
/** A stat and one or two small reads. */
const FACTS_WEIGHT = 10;
/** Chunk sizes: ~0.1-0.3 ms of work each, so neither thread is left holding a long tail. */
const PIDS_PER_CHUNK = 16;
const FACTS_PER_CHUNK = 8;

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
    return this.split('links', pids, types, PIDS_PER_CHUNK, types.length) as Promise<string[]>;
  }

  /** Like links(), as numbers: see readNsInodesJob. */
  inodes(pids: readonly number[], types: readonly string[]): Promise<number[]> {
    return this.split('inodes', pids, types, PIDS_PER_CHUNK, types.length) as Promise<number[]>;
  }

  nsfs(items: readonly NsfsJobItem[], maxAttempts: number): Promise<NsfsJobResult[]> {
    return this.split('nsfs', items, maxAttempts, 1, MOUNTINFO_READ_WEIGHT) as Promise<NsfsJobResult[]>;
  }

  facts(pids: readonly number[]): Promise<FactsJobResult[]> {
    return this.split('facts', pids, null, FACTS_PER_CHUNK, FACTS_WEIGHT) as Promise<FactsJobResult[]>;
  }

  dispose(): void {
    void this.worker?.terminate();
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new Error('scan pool disposed'));
    this.pending.clear();
  }

  /** Both threads take chunks until none are left; results in item order. */
  private async split(job: JobName, items: readonly unknown[], arg: unknown, chunk: number, weight: number): Promise<unknown[]> {
    const run = JOBS[job] as AnyJob;
    const worker = items.length * weight >= this.minWorkForWorker ? this.ensureWorker() : null;
    if (!worker) return run(nodeFs, items, arg);
    const ctl = new Int32Array(new SharedArrayBuffer(4));
    const remote = this.post(worker, { job, items, arg, ctl, chunk }) as Promise<unknown[]>;
    const mine = claimChunks(run, nodeFs, items, arg, ctl, chunk);
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
      for (let from = 0; from < items.length; from += chunk) if (!covered.has(from)) theirs.push(from, run(nodeFs, items.slice(from, from + chunk), arg));
    }
    return assemble(mine.concat(theirs));
  }

  private post(worker: Worker, message: { job: JobName; items: readonly unknown[]; arg: unknown; ctl: Int32Array; chunk: number }): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced only while it has work: a scan in flight must keep the process alive, an idle worker not.
      worker.ref();
      worker.postMessage({ id, ...message });
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

/** [from, results, …] from both threads → one array in item order. */
function assemble(parts: unknown[]): unknown[] {
  const order: number[] = [];
  for (let i = 0; i < parts.length; i += 2) order.push(i);
  order.sort((a, b) => (parts[a] as number) - (parts[b] as number));
  const out: unknown[] = [];
  for (const i of order) for (const r of parts[i + 1] as unknown[]) out.push(r);
  return out;
}
