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
import { COMMAND_MAX_BYTES } from '../../shared/api.js';
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
/** Where a capped read stopped early: the byte cap, or the time budget (a table the kernel is slow to print). */
export type ReadCut = 'bytes' | 'time';
/**
 * `identity`: the namespace's nsfs inode and its ctime, which tell it from a later one that reuses the inode.
 * `cut`: only the first part of the table was read (see readCapped); nsfs lines past it are not in `lines`.
 */
export type NsfsJobResult = { pid: number; lines: string[]; identity: string; cut?: ReadCut; /** the read's wall time */ ms: number; /** bytes of the table read */ bytes: number } | null;

/** Caps of one /proc read on either thread: bytes kept, and wall time spent before it stops. */
export interface ReadCaps {
  maxBytes: number;
  budgetMs: number;
}
export interface NsfsJobArg extends ReadCaps {
  maxAttempts: number;
}

/**
 * Open, read up to `caps.maxBytes` (whole lines) within `caps.budgetMs`, close. Bytes land in one scratch
 * buffer per thread, reused: the answer is a view into it, valid until the next call on that thread.
 * A hostile user controls how big and how slow a mount table is (20k stacked binds make the kernel's mountinfo
 * quadratic: seconds of system time); reads of READ_CHUNK_BYTES let the clock be checked between them.
 * After a read that grew the scratch past SCRATCH_KEEP_BYTES it is dropped, so one spike is not kept for good.
 * Self-contained: runs on both threads (the worker gets its source text).
 */
export function readCapped(fs: Fs, path: string, caps: ReadCaps): { buf: Buffer; cut?: ReadCut } {
  /** ~0.1-1 ms of kernel time for an ordinary table: the granularity of the time budget. */
  const READ_CHUNK_BYTES = 64 * 1024;
  /** A 5,000-mount table is ~600 kB; keep a buffer that size between reads, drop anything bigger. */
  const SCRATCH_KEEP_BYTES = 1024 * 1024;
  const g = globalThis as { nsconsoleScratch?: Buffer };
  const started = performance.now();
  const fd = fs.openSync(path, 'r');
  let buf = (g.nsconsoleScratch ??= Buffer.allocUnsafe(256 * 1024));
  let n = 0;
  let cut: ReadCut | undefined;
  try {
    for (;;) {
      if (n >= caps.maxBytes) {
        cut = 'bytes';
        break;
      }
      if (performance.now() - started > caps.budgetMs) {
        cut = 'time';
        break;
      }
      if (n === buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, caps.maxBytes + READ_CHUNK_BYTES));
        buf.copy(bigger, 0, 0, n);
        g.nsconsoleScratch = buf = bigger;
      }
      const got = fs.readSync(fd, buf, n, Math.min(READ_CHUNK_BYTES, buf.length - n), null);
      if (got === 0) break;
      n += got;
    }
  } finally {
    fs.closeSync(fd);
  }
  // Cut short: keep whole lines only, and never more than the cap.
  // (A negative start would make lastIndexOf search from the end: nothing read means nothing kept.)
  if (cut) n = n > 0 ? buf.lastIndexOf(10, Math.min(n, caps.maxBytes) - 1) + 1 : 0;
  if (buf.length > SCRATCH_KEEP_BYTES) g.nsconsoleScratch = undefined;
  const out: { buf: Buffer; cut?: ReadCut } = { buf: buf.subarray(0, n) };
  if (cut) out.cut = cut;
  return out;
}

/**
 * For each mount namespace: the nsfs lines of its mountinfo, read through the first listed process that is
 * still in it after the read (so the text is that namespace's). Self-contained, like readNsLinksJob; uses
 * readCapped, which the worker defines beside it. The table stays bytes: only the rare nsfs lines are found
 * (a byte search) and decoded. Decoding every table made ~1 MB of strings per list, and the garbage collector
 * was ~10% of a list. `arg`: a bare number is maxAttempts with the default caps (tests).
 */
export function readNsfsLinesJob(fs: Fs, items: readonly NsfsJobItem[], arg: NsfsJobArg | number): NsfsJobResult[] {
  const caps = typeof arg === 'number' ? { maxAttempts: arg, maxBytes: 16 * 1024 * 1024, budgetMs: 1000 } : arg;
  const out: NsfsJobResult[] = [];
  for (const item of items) {
    const want = 'mnt:[' + item.mnt.slice(4) + ']';
    let found: NsfsJobResult = null;
    const t0 = performance.now();
    for (const pid of item.pids.slice(0, caps.maxAttempts)) {
      let raw: Buffer;
      let cut: ReadCut | undefined;
      let identity: string;
      try {
        ({ buf: raw, cut } = readCapped(fs, '/proc/' + pid + '/mountinfo', caps));
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
      found = { pid, lines, identity, ms: performance.now() - t0, bytes: raw.length };
      if (cut) found.cut = cut;
      break;
    }
    out.push(found);
  }
  return out;
}

/** One mount table to read: through the first of `pids` still in `mnt` after the read; `pids` null: our own. */
export interface MountinfoJobItem {
  mnt: string;
  pids: readonly number[] | null;
}
/** The table's bytes (a copy, safe to send between threads), and whether it was cut short. */
export type MountinfoJobResult = { pid: number | null; raw: Uint8Array; cut?: ReadCut; /** the read's own wall time, without queueing */ ms: number } | null;

/** Self-contained, like readNsfsLinesJob. */
export function readMountinfoJob(fs: Fs, items: readonly MountinfoJobItem[], arg: NsfsJobArg): MountinfoJobResult[] {
  const out: MountinfoJobResult[] = [];
  for (const item of items) {
    let found: MountinfoJobResult = null;
    const t0 = performance.now();
    if (item.pids === null) {
      const r = readCapped(fs, '/proc/self/mountinfo', arg);
      found = { pid: null, raw: new Uint8Array(r.buf), ms: performance.now() - t0 };
      if (r.cut) found.cut = r.cut;
    } else {
      const want = 'mnt:[' + item.mnt.slice(4) + ']';
      for (const pid of item.pids.slice(0, arg.maxAttempts)) {
        let r: { buf: Buffer; cut?: ReadCut };
        try {
          r = readCapped(fs, '/proc/' + pid + '/mountinfo', arg);
          if (fs.readlinkSync('/proc/' + pid + '/ns/mnt') !== want) continue;
        } catch {
          continue; // exited under us: try the next process
        }
        found = { pid, raw: new Uint8Array(r.buf), ms: performance.now() - t0 };
        if (r.cut) found.cut = r.cut;
        break;
      }
    }
    out.push(found);
  }
  return out;
}

/**
 * lsns's USER is the owner of /proc/PID (here its uid); its COMMAND the command line, or the kernel thread's
 * name. `commandTruncated`: the command line was longer than the cap and `command` is its start.
 */
export type FactsJobResult = { uid: number; command: string; commandTruncated?: true } | { error: string };

/**
 * Self-contained, like readNsLinksJob. Reads at most `maxBytes` of each command line (COMMAND_MAX_BYTES; a
 * process can have many MB of argv, and each namespace row repeats it).
 */
export function readFactsJob(fs: Fs, pids: readonly number[], maxBytes?: number | null): FactsJobResult[] {
  const cap = typeof maxBytes === 'number' ? maxBytes : 4096; // COMMAND_MAX_BYTES, repeated: self-contained
  const buf = Buffer.allocUnsafe(cap + 1);
  const out: FactsJobResult[] = [];
  for (const pid of pids) {
    try {
      const uid = fs.statSync('/proc/' + pid).uid;
      const fd = fs.openSync('/proc/' + pid + '/cmdline', 'r');
      let n = 0;
      try {
        for (;;) {
          const got = fs.readSync(fd, buf, n, buf.length - n, null);
          if (got === 0) break;
          n += got;
          if (n === buf.length) break;
        }
      } finally {
        fs.closeSync(fd);
      }
      const truncated = n > cap;
      const raw = buf.toString('latin1', 0, Math.min(n, cap));
      let command = Buffer.from(raw.replace(/\0+$/, '').replaceAll('\0', ' '), 'latin1').toString('utf8');
      if (command === '' && !truncated) command = fs.readFileSync('/proc/' + pid + '/comm', 'utf8').replace(/\n$/, '');
      out.push(truncated ? { uid, command, commandTruncated: true } : { uid, command });
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

const JOBS = { links: readNsLinksJob, inodes: readNsInodesJob, nsfs: readNsfsLinesJob, mountinfo: readMountinfoJob, facts: readFactsJob } as const;
type JobName = keyof typeof JOBS;
type AnyJob = (fs: Fs, items: readonly unknown[], arg: unknown) => unknown[];

const WORKER_SOURCE = `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const claimChunks = (${claimChunks.toString()});
const readCapped = (${readCapped.toString()});
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

  nsfs(items: readonly NsfsJobItem[], maxAttempts: number, caps: ReadCaps = NSFS_READ_CAPS): Promise<NsfsJobResult[]> {
    const arg: NsfsJobArg = { maxAttempts, ...caps };
    return this.offMain('nsfs', items, arg) as Promise<NsfsJobResult[]>;
  }

  /** Whole mount tables (see readMountinfoJob), on the worker. */
  mountinfo(items: readonly MountinfoJobItem[], maxAttempts: number, caps: ReadCaps = TABLE_READ_CAPS): Promise<MountinfoJobResult[]> {
    const arg: NsfsJobArg = { maxAttempts, ...caps };
    return this.offMain('mountinfo', items, arg) as Promise<MountinfoJobResult[]>;
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
    return (JOBS[job] as AnyJob)(nodeFs, items, arg);
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
    if (this.worker || this.workerBroken || this.disposed) return this.worker;
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
