// 50 sandboxes, each with an idle shell, on one server run as a user runs it (a child process, so its RSS is the
// server's alone): 50 users named by the proxy header each open a shell and leave it at its prompt.
//  - server RSS per sandbox: (server RSS with 50 idle sandboxes − with none, after one host request) / 50
//  - sandbox RSS (and PSS) per sandbox: every process in the sandboxes' cgroups (unshare, init, nsenter, bash)
//  - first prompt of the last LAST_TIMED sandboxes, opened one at a time while 45–49 others are up
// Used by sandbox-bench.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnServer } from '../helpers/process.js';
import { hostPidsWithUidIn } from '../helpers/sandbox.js';
import type { TermClient } from '../helpers/term-client.js';
import { asUser, openShell, pssKiB, rssKiB, sandboxPids, USER_HEADER } from './sandbox-users.js';

export const SANDBOXES = 50;
const RANGE = 65536;
/**
 * Shells are opened this many at a time, a batch a second at most: the figure is memory, not how fast 50 start at
 * once on 2 cores, and the server lets sessions be created at 5/s after a burst (registry.ts DEFAULT_CREATE_RATE).
 */
const OPEN_PARALLEL = 5;
const BATCH_MS = 1000;
/** The last sandboxes are opened one by one and timed: start → first prompt with the others up. */
const LAST_TIMED = 5;
/** Idle means idle: let the shells, the init and the server's first-use allocations settle before reading RSS. */
const SETTLE_MS = 2000;

export interface FiftyFigures {
  serverKiBPer: number;
  serverBeforeKiB: number;
  serverAfterKiB: number;
  sandboxRssKiBPer: number;
  sandboxPssKiBPer: number;
  processesPer: number;
  /** start → first prompt of each of the last LAST_TIMED sandboxes */
  lastStartMs: number[];
}

export async function fiftySandboxes(uidStart: number): Promise<FiftyFigures> {
  const server = await spawnServer([
    '--sandbox',
    '--sandbox-uids',
    `${uidStart}:${(SANDBOXES + 1) * RANGE}`,
    '--auth-header',
    USER_HEADER,
    '--shell',
    '/bin/bash',
    '--max-sessions',
    String(SANDBOXES + 8),
  ]);
  const serverPid = server.child.pid as number;
  const clients: TermClient[] = [];
  try {
    // One request so the server's HTTP path is warm and its baseline is not its bare start.
    await asUser(server.base, 'warm').api('/api/whoami');
    (global as { gc?: () => void }).gc?.();
    await sleep(SETTLE_MS);
    const before = rssKiB(serverPid);
    const parallel = SANDBOXES - LAST_TIMED;
    for (let i = 0; i < parallel; i += OPEN_PARALLEL) {
      const batch = Array.from({ length: Math.min(OPEN_PARALLEL, parallel - i) }, (_, j) =>
        openShell(asUser(server.base, `learner${i + j}`)),
      );
      const t0 = performance.now();
      for (const s of await Promise.all(batch)) clients.push(s.client);
      await sleep(Math.max(0, BATCH_MS - (performance.now() - t0)));
    }
    const lastStartMs: number[] = [];
    for (let i = parallel; i < SANDBOXES; i++) {
      const t0 = performance.now();
      clients.push((await openShell(asUser(server.base, `learner${i}`))).client);
      lastStartMs.push(performance.now() - t0);
    }
    await sleep(SETTLE_MS);
    const after = rssKiB(serverPid);
    const pids = sandboxPids(serverPid);
    const rss = pids.reduce((sum, pid) => sum + rssKiB(pid), 0);
    const pss = pids.reduce((sum, pid) => sum + pssKiB(pid), 0);
    return {
      serverKiBPer: (after - before) / SANDBOXES,
      serverBeforeKiB: before,
      serverAfterKiB: after,
      sandboxRssKiBPer: rss / SANDBOXES,
      sandboxPssKiBPer: pss / SANDBOXES,
      processesPer: pids.length / SANDBOXES,
      lastStartMs,
    };
  } finally {
    for (const c of clients) c.dispose();
    await server.stop(); // SIGTERM: it destroys every sandbox
    // A server that died instead leaves its sandboxes to die by parent-death signal; wait for that either way.
    const deadline = Date.now() + 30_000;
    while (hostPidsWithUidIn(uidStart, (SANDBOXES + 1) * RANGE).length > 0 && Date.now() < deadline) await sleep(50);
  }
}
