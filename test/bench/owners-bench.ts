// What knowing who owns each namespace costs, and what entering by verified fds costs:
//  - owner facts (NS_GET_USERNS, NS_GET_OWNER_UID) for every listed row: cold (first scan) and remembered,
//    with 100 user namespaces of nobody's × 5 types each built by the bench    target: remembered ≤ 5 ms
//  - an untrusted shell start (user namespace entered too, fds held until in) vs a root-owned one  target ≤ 1.5×
// Standalone: `npx tsc -b && node dist/test/bench/owners-bench.js`. Never fails on time.
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine } from '../../server/namespaces/engine.js';
import { UserNames } from '../../server/namespaces/discovery.js';
import { OwnerFacts } from '../../server/namespaces/owners.js';
import { startServer } from '../helpers/server.js';
import { median, type Row } from './row.js';

const HOLDERS = 100;
const RUNS = 9;
const STARTS = 15;
const REMEMBERED_TARGET_MS = 5;
const START_RATIO_TARGET = 1.5;
/** A start that never reaches its namespace is reported, not waited on forever. */
const START_TIMEOUT_MS = 10_000;

const nsLink = (pid: number, type: string): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/${type}`).replace(/^(\w+):\[(\d+)\]$/, '$1:$2');
  } catch {
    return null;
  }
};

async function until(pred: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}

export async function benchOwners(): Promise<Row[]> {
  const holders: ChildProcess[] = [];
  try {
    for (let i = 0; i < HOLDERS; i++) {
      holders.push(
        spawn(
          'setpriv',
          ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'unshare', '-Urmnui', '--', 'sleep', '600'],
          { stdio: 'ignore' },
        ),
      );
    }
    const self = nsLink(process.pid, 'mnt');
    await until(() => holders.every((h) => nsLink(h.pid as number, 'mnt') !== self), 20_000);

    const engine = createNamespaceEngine({
      nsDir: '/nonexistent-owners-bench',
      log: createLogger('silent'),
      kernelEvents: false,
    });
    const { namespaces } = await engine.list();
    engine.dispose();
    const deps = {
      selfUserInode: statSync('/proc/self/ns/user').ino,
      nsfsDev: statSync('/proc/self/ns/user').dev,
      users: new UserNames(),
    };
    const cold: number[] = [];
    const warm: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const facts = new OwnerFacts(deps);
      let t0 = performance.now();
      facts.annotate(namespaces.map((n) => ({ ...n })));
      cold.push(performance.now() - t0);
      t0 = performance.now();
      facts.annotate(namespaces.map((n) => ({ ...n })));
      warm.push(performance.now() - t0);
    }

    // Shell starts: POST → the shell's mount namespace is the target, alternately root-owned and nobody's.
    const srv = await startServer({ shell: '/bin/sh' });
    const rootHolder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sleep', '600'], {
      stdio: 'ignore',
    });
    holders.push(rootHolder);
    await until(() => nsLink(rootHolder.pid as number, 'mnt') !== self, 5000);
    const startOnce = async (id: string): Promise<number> => {
      const t0 = performance.now();
      const res = await srv.api('/api/sessions', {
        method: 'POST',
        body: JSON.stringify({ target: { kind: 'namespace', id } }),
      });
      const body = (await res.json()) as { id: string; pid: number };
      await until(
        () => nsLink(body.pid, 'mnt') === id && !/nsenter/.test(readlinkSync(`/proc/${body.pid}/exe`)),
        START_TIMEOUT_MS,
      );
      const ms = performance.now() - t0;
      await srv.api(`/api/sessions/${body.id}`, { method: 'DELETE' });
      await new Promise((r) => setTimeout(r, 250)); // stay under the create rate limit (5/s)
      return ms;
    };
    const trusted = nsLink(rootHolder.pid as number, 'mnt') as string;
    const untrusted = nsLink(holders[0]!.pid as number, 'mnt') as string;
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      a.push(await startOnce(untrusted));
      b.push(await startOnce(trusted));
    }
    await srv.close();

    const command = 'npx tsc -b && node dist/test/bench/owners-bench.js';
    const [c, w, sa, sb] = [median(cold), median(warm), median(a), median(b)];
    return [
      {
        figure: `owner facts for ${namespaces.length} rows: remembered vs first scan (median of ${RUNS})`,
        ours: `${w.toFixed(2)} ms`,
        baseline: `${c.toFixed(2)} ms`,
        ratio: w / c,
        target: `≤ ${REMEMBERED_TARGET_MS} ms`,
        command,
        met: w <= REMEMBERED_TARGET_MS,
      },
      {
        figure: `shell start in nobody's mount ns vs a root-owned one, POST → in it (median of ${STARTS})`,
        ours: `${sa.toFixed(1)} ms`,
        baseline: `${sb.toFixed(1)} ms`,
        ratio: sa / sb,
        target: `≤ ${START_RATIO_TARGET}×`,
        command,
        met: sa / sb <= START_RATIO_TARGET,
      },
    ];
  } finally {
    for (const h of holders) h.kill('SIGKILL');
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchOwners();
  for (const r of rows)
    console.log(`| ${r.figure} | ${r.ours} | ${r.baseline} | ${r.ratio.toFixed(2)} | ${r.target} |`);
}
