// The /proc reads of a scan, as jobs: plain functions of (fs, items, arg) → one result per item, so the very same
// code runs on the main thread and on the scan worker (scan-worker.ts), which take chunks of one job from a
// shared counter (claimChunks). Results are structured-cloneable (they cross threads).
import type * as nodeFs from 'node:fs';
import { COMMAND_MAX_BYTES } from '../../shared/constants.js';
import { mountPageJson, type MountPageJson } from '../mounts/mountinfo.js';
import { nsLinkText, parseNsLink } from './ns-links.js';

export type Fs = typeof nodeFs;

/** Each pid × type: the link text (`mnt:[4026531841]`), or `!CODE` when it could not be read. */
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
export const ERRNO_CODES = [
  '',
  'ENOENT',
  'ESRCH',
  'EACCES',
  'EPERM',
  'EINVAL',
  'ENOTDIR',
  'ELOOP',
  'ENOMEM',
  'EIO',
] as const;

/**
 * Each pid × type: the namespace inode (namespace inodes are 32-bit), 0 for a link without one, or
 * -index into ERRNO_CODES. Numbers, not link texts: cheaper to copy back from the worker and to group by.
 */
export function readNsInodesJob(fs: Fs, pids: readonly number[], types: readonly string[]): number[] {
  const codes: readonly string[] = ERRNO_CODES;
  const out: number[] = [];
  for (const pid of pids) {
    const dir = '/proc/' + pid + '/ns/';
    for (const type of types) {
      try {
        const link = parseNsLink(fs.readlinkSync(dir + type));
        out.push(link ? Number(link.inode) : 0);
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
export type NsfsJobResult = {
  pid: number;
  lines: string[];
  identity: string;
  cut?: ReadCut;
  /** the read's wall time */ ms: number;
  /** bytes of the table read */ bytes: number;
} | null;

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
 * still in it after the read (so the text is that namespace's). The table stays bytes: only the rare nsfs lines are found
 * (a byte search) and decoded. Decoding every table made ~1 MB of strings per list, and the garbage collector
 * was ~10% of a list. `arg`: a bare number is maxAttempts with the default caps (tests).
 */
export function readNsfsLinesJob(fs: Fs, items: readonly NsfsJobItem[], arg: NsfsJobArg | number): NsfsJobResult[] {
  const caps = typeof arg === 'number' ? { maxAttempts: arg, maxBytes: 16 * 1024 * 1024, budgetMs: 1000 } : arg;
  const out: NsfsJobResult[] = [];
  for (const item of items) {
    const want = nsLinkText(item.mnt);
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
export type MountinfoJobResult = {
  pid: number | null;
  raw: Uint8Array;
  cut?: ReadCut;
  /** the read's own wall time, without queueing */ ms: number;
} | null;

/** Whole mount tables, each read like readNsfsLinesJob reads one. */
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
      const want = nsLinkText(item.mnt);
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
 * Reads at most `maxBytes` of each command line (COMMAND_MAX_BYTES; a
 * process can have many MB of argv, and each namespace row repeats it).
 */
export function readFactsJob(fs: Fs, pids: readonly number[], maxBytes?: number | null): FactsJobResult[] {
  const cap = typeof maxBytes === 'number' ? maxBytes : COMMAND_MAX_BYTES;
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

/** Take chunks of `items` from the shared counter until none are left. Returns [from, results, from, results…]. */
export function claimChunks(
  job: (fs: Fs, items: readonly unknown[], arg: unknown) => unknown[],
  fs: Fs,
  items: readonly unknown[],
  arg: unknown,
  ctl: Int32Array,
  chunk: number,
): unknown[] {
  const parts: unknown[] = [];
  for (;;) {
    const from = Atomics.add(ctl, 0, chunk);
    if (from >= items.length) return parts;
    parts.push(from, job(fs, items.slice(from, from + chunk), arg));
  }
}

/** A table read (readMountinfoJob's bytes) to turn into the page a watcher is sent. */
export interface PageJobItem {
  raw: Uint8Array;
  cut?: ReadCut;
  /** rows from `offset`, at most `limit` (mountPageJson's defaults: the first page) */
  offset?: number;
  limit?: number;
}

/** Parsing and serializing a page of a table: see mountPageJson. */
export function mountPageJob(_fs: Fs, items: readonly PageJobItem[]): MountPageJson[] {
  return items.map((it) =>
    mountPageJson(
      Buffer.from(it.raw.buffer, it.raw.byteOffset, it.raw.byteLength).toString('utf8'),
      it.cut,
      it.offset,
      it.limit,
    ),
  );
}

export const JOBS = {
  links: readNsLinksJob,
  inodes: readNsInodesJob,
  nsfs: readNsfsLinesJob,
  mountinfo: readMountinfoJob,
  facts: readFactsJob,
  page: mountPageJob,
} as const;
export type JobName = keyof typeof JOBS;
export type AnyJob = (fs: Fs, items: readonly unknown[], arg: unknown) => unknown[];
