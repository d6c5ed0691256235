// The walkthrough's live views inside a sandbox, with the host's targets (namespaces-bench.ts measures them there):
//  - a mount / umount typed in the sandbox's shell → the Mounts view's table (a `mounts` event on the user's
//    /ws/events) shows it / no longer shows it                                              target p95 ≤ 250 ms
//  - a namespace made / ended by the sandbox's shell (`unshare -m sleep &`, `kill`) → the Namespaces view's list
//    (a `namespaces` event) shows it / no longer shows it, one command a second             target p95 ≤ 250 ms
// Timed from just before the keystrokes are sent, so the pty, bash and the exec of mount/unshare count (the host
// bench times from the spawn of nsenter). Used by sandbox-bench.ts, and alone as `npm run bench -- sandbox-views`
// (benchSandboxViews: the same two rows on a server set up as sandbox-bench.ts's, without its other figures).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type WebSocket from 'ws';
import { parseEventsMessage } from '../../shared/events.js';
import { sandboxConfig } from '../helpers/sandbox.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { TermClient } from '../helpers/term-client.js';
import { median, percentile, type Row } from './row.js';
import { asUser, openShell, USER_HEADER, type UserApi } from './sandbox-users.js';

export const VIEW_SAMPLES = 40;
/** Pause between table samples, off any poll period (namespaces-bench.ts does the same). */
const DECORRELATE_MS = 37;
/**
 * Pause between list samples: a person's pace, a command a second. The list's rescans have a CPU budget (the
 * host's: 3% of a CPU over 10 s; a sandbox's own: 1%, server/namespaces/watch-timing.ts) so that a burst of
 * commands shows at once while steady process churn waits (up to 750 ms, by design); 40 changes back to back
 * would measure that churn case instead.
 */
const LIST_PACE_MS = 1000;
const EVENT_DEADLINE_MS = 10_000;
/** Where the table samples mount, in a sandbox: its own /mnt. */
export const SANDBOX_LAT_DIR = '/mnt/lat';

interface Seen {
  /** every list since the current sample began */
  lists: { at: number; ids: Set<string> }[];
  table: { at: number; id: string; targets: Set<string> } | null;
}

/** Types a command line and waits for its end (a marker it echoes); returns what it printed. */
async function run(client: TermClient, command: string, n: number): Promise<string> {
  const marker = `__END_${n}__`;
  client.type(`${command}; echo ${marker}$((1+0))\r`); // the typed text shows `$((1+0))`, the output `1`
  await client.waitForText(`${marker}1`, 15_000);
  const text = client.text();
  const from = text.lastIndexOf(`${marker}$((1+0))`);
  return text.slice(from + marker.length + 8, text.lastIndexOf(`${marker}1`)).trim();
}

async function until<T>(look: () => T | null | Promise<T | null>, what: string): Promise<T> {
  const deadline = Date.now() + EVENT_DEADLINE_MS;
  for (;;) {
    const v = await look();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function listen(ws: WebSocket, seen: Seen): void {
  ws.on('message', (data) => {
    const at = performance.now();
    const msg = parseEventsMessage(String(data));
    if (msg?.type === 'namespaces') seen.lists.push({ at, ids: new Set(msg.namespaces.map((n) => n.id)) });
    else if (msg?.type === 'mounts') seen.table = { at, id: msg.id, targets: new Set(msg.mounts.map((m) => m.target)) };
  });
}

/** The last PID handed out (pid_max wraps): processes started between two reads, for the machine's churn. */
function lastPid(): number {
  return Number(readFileSync('/proc/loadavg', 'latin1').trim().split(' ')[4]);
}

export interface ViewLatencies {
  table: number[];
  list: number[];
  /** processes the whole machine started per second while the list was measured: each makes the list rescan */
  listStartsPerSec: number;
}

/**
 * The two live-view latencies for `u`'s shell: in a sandbox, or on the host (the same measurement as the
 * baseline, with `latDir` a temporary directory: the mount is then the host's, and undone by the last sample).
 */
export async function viewLatencies(u: UserApi, latDir = SANDBOX_LAT_DIR): Promise<ViewLatencies> {
  const { client } = await openShell(u);
  const seen: Seen = { lists: [], table: null };
  const ws = u.ws('/ws/events');
  listen(ws, seen); // before 'open': the first list can arrive in the packet that opens the socket
  let n = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const inode = /mnt:\[(\d+)\]/.exec(await run(client, 'readlink /proc/self/ns/mnt', ++n))?.[1];
    if (!inode) throw new Error('no mount namespace id from the sandbox shell');
    const mntId = `mnt:${inode}`;
    await run(client, `mkdir -p ${latDir}`, ++n);
    ws.send(JSON.stringify({ type: 'watch', ids: [mntId] }));
    await until(() => (seen.table?.id === mntId ? true : null), 'the first table of the sandbox');

    const table: number[] = [];
    for (let i = 0; i < VIEW_SAMPLES; i++) {
      const mounting = i % 2 === 0;
      const t0 = performance.now();
      const done = run(client, mounting ? `mount -t tmpfs lat ${latDir}` : `umount ${latDir}`, ++n);
      const at = await until(
        () => (seen.table && seen.table.at > t0 && seen.table.targets.has(latDir) === mounting ? seen.table.at : null),
        `the table to ${mounting ? 'show' : 'drop'} ${latDir}`,
      );
      table.push(at - t0);
      await done;
      await new Promise((r) => setTimeout(r, DECORRELATE_MS));
    }

    // The namespace is named by asking the shell for its process's (`$!`) once the command has run: on the host,
    // other people's new namespaces appear in the list too. Every list is kept with its arrival time meanwhile.
    const list: number[] = [];
    const shellMnt = mntId;
    let made: string | null = null;
    const pid0 = lastPid();
    const listStart = performance.now();
    for (let i = 0; i < VIEW_SAMPLES; i++) {
      const making = i % 2 === 0;
      seen.lists = [];
      const t0 = performance.now();
      await run(client, making ? 'unshare -m --propagation private sleep 100000 & true' : 'kill $!; wait', ++n);
      if (making) {
        made = await until(async () => {
          const id = /mnt:\[(\d+)\]/.exec(await run(client, 'readlink /proc/$!/ns/mnt', ++n))?.[1];
          return id && `mnt:${id}` !== shellMnt ? `mnt:${id}` : null;
        }, 'the new namespace of `unshare -m sleep`');
      }
      const id = made as string;
      const at = await until(
        () => seen.lists.find((l) => l.at > t0 && l.ids.has(id) === making)?.at ?? null,
        `the list to ${making ? 'show' : 'drop'} ${id}`,
      );
      list.push(at - t0);
      await new Promise((r) => setTimeout(r, LIST_PACE_MS));
    }
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    const started = (lastPid() - pid0 + pidMax) % pidMax;
    return { table, list, listStartsPerSec: started / ((performance.now() - listStart) / 1000) };
  } finally {
    ws.terminate();
    client.dispose();
  }
}

export const VIEW_TARGET_MS = 250;
const ms = (x: number): string => `${x.toFixed(0)} ms`;

/** The two rows of the live views in a sandbox, against the same on the host. */
export function viewRows(views: ViewLatencies, hostViews: ViewLatencies, command: string): Row[] {
  const row = (figure: string, xs: number[], host: number[], note: string): Row => {
    const p = percentile(xs, 95);
    return {
      figure: `${figure}, p95 of ${xs.length} (median ${ms(median(xs))})${note}`,
      ours: ms(p),
      baseline: `the same on the host: p95 ${ms(percentile(host, 95))} (median ${ms(median(host))})`,
      ratio: p / VIEW_TARGET_MS,
      target: `≤ ${VIEW_TARGET_MS} ms`,
      command,
      met: p <= VIEW_TARGET_MS,
    };
  };
  return [
    row('in a sandbox: mount/umount typed → Mounts table event', views.table, hostViews.table, ''),
    row(
      'in a sandbox: `unshare -m sleep &` / `kill` typed, one a second → Namespaces list event',
      views.list,
      hostViews.list,
      `; the machine started ${views.listStartsPerSec.toFixed(0)} / ${hostViews.listStartsPerSec.toFixed(0)} processes/s meanwhile (each makes the host's list rescan, within its CPU budget)`,
    ),
  ];
}

/** Clear of sandbox-bench.ts's ranges (10,000,000 and 20,000,000 up) and the tests' (below 2,000,000). */
const VIEWS_UID_START = 30_000_000;
/** Sandboxes with an idle shell on the server before the views are measured, as in sandbox-bench.ts's warm server. */
const OTHER_LEARNERS = 16;
const RANGE = 65536;
const COMMAND = 'npm run bench -- sandbox-views';

/** The views in `u`'s sandbox, then the same in a host shell on `host` (its mounts in a temporary directory). */
async function both(u: UserApi, host: TestServer): Promise<{ views: ViewLatencies; hostViews: ViewLatencies }> {
  const views = await viewLatencies(u);
  const latDir = mkdtempSync(path.join(tmpdir(), 'nsconsole-bench-lat-'));
  try {
    return { views, hostViews: await viewLatencies({ api: (p, i) => host.api(p, i), ws: (p) => host.ws(p) }, latDir) };
  } finally {
    spawnSync('umount', [latDir], { stdio: 'ignore' }); // only if a sample failed halfway: the last one unmounts
    rmSync(latDir, { recursive: true, force: true });
  }
}

/** `npm run bench -- sandbox-views`: the live views in one more learner's sandbox, and the same on the host. */
export async function benchSandboxViews(): Promise<Row[]> {
  const users = await startServer({
    sandbox: sandboxConfig(VIEWS_UID_START, { uidCount: (OTHER_LEARNERS + 2) * RANGE }),
    shell: '/bin/bash', // the test helper's norc wrapper lives under the host's /tmp, which a sandbox does not see
    authHeader: USER_HEADER,
  });
  let host: TestServer | null = null;
  try {
    host = await startServer();
    for (let i = 0; i < OTHER_LEARNERS; i++) {
      const { client } = await openShell(asUser(users.base, `learner${i}`));
      client.dispose(); // the session and its sandbox stay (sessionGraceMs)
    }
    const { views, hostViews } = await both(asUser(users.base, 'views'), host);
    return viewRows(views, hostViews, COMMAND);
  } finally {
    await host?.close();
    await users.close();
  }
}
