// The worker thread runs the same job code (scan-jobs.ts) from its compiled module: prove it answers exactly like
// the main thread, and that it is the worker that answers (a worker that cannot start falls back silently).
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.js';
import { listPids } from '../../server/proc/pids.js';
import { ERRNO_CODES, readFactsJob, readNsfsLinesJob, readNsLinksJob } from '../../server/proc/scan-jobs.js';
import { ScanPool, scanWorkerUrl } from '../../server/proc/scan-pool.js';

const log = createLogger('silent');
const split = new ScanPool(log, 1); // every job is split with the worker
const local = new ScanPool(log, Number.POSITIVE_INFINITY);
afterAll(() => {
  split.dispose();
  local.dispose();
});

describe('ScanPool', () => {
  it('reads the same links on both threads, in PID order', async () => {
    const pids = listPids().filter((p) => p <= process.pid);
    const types = ['mnt', 'net'];
    const [a, b] = await Promise.all([split.links(pids, types), local.links(pids, types)]);
    // Processes may exit between the two reads; compare the ones both saw.
    const both = a.map((x, i) => [x, b[i]]).filter(([x, y]) => !x!.startsWith('!ENOENT') && !y!.startsWith('!ENOENT'));
    expect(both.length).toBeGreaterThan(10);
    for (const [x, y] of both) expect(x).toBe(y);
    expect(readNsLinksJob(fs, [process.pid], ['mnt'])).toEqual([fs.readlinkSync('/proc/self/ns/mnt')]);
  });

  it('reads nsfs lines through a process that is still in the namespace', async () => {
    const mnt = `mnt:${fs.readlinkSync('/proc/self/ns/mnt').slice(5, -1)}`;
    const items = [
      { mnt, pids: [process.pid] },
      { mnt: 'mnt:1', pids: [process.pid] }, // not in it: no answer
      { mnt, pids: [4_000_000, process.pid] }, // first PID missing: the next one answers
    ];
    const results = await split.nsfs(items, 8);
    expect(results[0]).toMatchObject({ pid: process.pid, lines: expect.any(Array) });
    expect(results[1]).toBeNull();
    expect(results[2]?.pid).toBe(process.pid);
    // Same answers from the main thread. Lines may differ (other test files mount things meanwhile), and so
    // may the identity of a namespace no bind pins (its nsfs inode is made afresh on each look).
    const strip = (r: (typeof results)[number]) => r && r.pid;
    expect(results.map(strip)).toEqual(readNsfsLinesJob(fs, items, 8).map(strip));
    expect(results[0]?.identity).toMatch(/^\d+:\d+$/);
  });

  it('reads inodes (numbers) that match the link texts, with errors as codes, on both threads', async () => {
    const pids = [...listPids().filter((p) => p <= process.pid), 4_000_000];
    const types = ['mnt', 'net', 'user'];
    const [nums, texts] = await Promise.all([split.inodes(pids, types), local.links(pids, types)]);
    expect(nums).toHaveLength(pids.length * types.length);
    let compared = 0;
    nums.forEach((n, i) => {
      const t = texts[i] as string;
      if (n < 0 || t.startsWith('!')) return; // exited between the two reads
      expect(t).toBe(`${types[i % types.length]}:[${n}]`);
      compared++;
    });
    expect(compared).toBeGreaterThan(10);
    // The last PID does not exist: every one of its links is ENOENT.
    expect(nums.slice(-types.length).map((n) => ERRNO_CODES[-n])).toEqual(['ENOENT', 'ENOENT', 'ENOENT']);
  });

  it('reads owners and command lines on both threads, in PID order', async () => {
    const pids = [process.pid, 4_000_000, 1];
    const facts = await split.facts(pids);
    expect(facts[0]).toEqual({ uid: process.getuid?.(), command: expect.stringContaining('node') });
    expect(facts[1]).toEqual({ error: 'ENOENT' });
    expect(facts.map((f) => 'uid' in f)).toEqual(readFactsJob(fs, pids).map((f) => 'uid' in f));
  });

  it('runs its jobs on a worker started from the compiled scan-worker module, not from source text', async () => {
    expect(fileURLToPath(scanWorkerUrl())).toMatch(/\/dist\/server\/proc\/scan-worker\.js$/);
    const warnings: unknown[] = [];
    const pool = new ScanPool({ warn: (obj) => warnings.push(obj) }, 1);
    try {
      const [table] = await pool.mountinfo([{ mnt: 'mnt:0', pids: null }], 1);
      expect(Buffer.from(table?.raw ?? []).toString('utf8')).toBe(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
      // Any failure of the worker (not built, crashed) is logged as a warning and the job redone here.
      expect(warnings).toEqual([]);
    } finally {
      pool.dispose();
    }
  });
});
