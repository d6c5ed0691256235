// Namespace engine figures against util-linux on the same machine state, built and torn down by the bench:
//   100 mount namespaces × 5 processes with 20 tmpfs mounts each, 50 persisted ones without a process, and one
//   namespace with 5,000 mounts.
//  - the namespace list (engine and HTTP) vs `lsns -J`                  target ≤ 0.5×
//  - one namespace's table of 5,000 mounts (engine and HTTP) vs `findmnt -J --task PID`   target ≤ 1.5×
//  - a mount in a watched namespace reaching a watcher: p95              target ≤ 250 ms
//  - CPU of two watched namespaces and the list, idle                    target ≤ 1%
// Standalone: `npx tsc -b && node dist/test/bench/namespaces-bench.js`. Never fails on time.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NamespaceEngine } from '../../server/namespaces/engine.js';
import { createNamespaceEngine } from '../../server/namespaces/engine.js';
import { createLogger } from '../../server/log.js';
import { median, percentile, type Row } from './row.js';

const RUNS = 9;
const NAMESPACES = 100;
const PROCS_PER_NS = 5;
const MOUNTS_PER_NS = 20;
const PERSISTED = 50;
const BIG_MOUNTS = 5000;
const LATENCY_SAMPLES = 40;
const CPU_WINDOW_MS = 10_000;
const SETTLE_MS = 20_000;
/** Namespaces built at once: enough to hide spawn latency, few enough not to swamp two cores. */
const BUILD_PARALLEL = 10;

const log = createLogger('silent');

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Medians of `ours` and `baseline`, run alternately so both see the same background load. */
async function pairedMedians(
  ours: () => Promise<unknown>,
  baseline: () => Promise<unknown>,
  runs = RUNS,
): Promise<[number, number]> {
  await ours();
  await baseline();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(await timed(ours));
    b.push(await timed(baseline));
  }
  return [median(a), median(b)];
}

const mntOf = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
};

/** Everything the bench made, undone in `dispose()` even when building failed halfway. */
export class BenchLoad {
  readonly root = mkdtempSync(path.join(tmpdir(), 'nsconsole-bench-'));
  readonly nsDir = path.join(this.root, 'ns');
  private readonly children: ChildProcess[] = [];
  private nsDirMounted = false;

  /** A `sleep` in a new, unpersisted mount namespace; resolves once it is really inside. */
  async leader(): Promise<number> {
    const self = mntOf(process.pid);
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sleep', '100000'], {
      stdio: 'ignore',
    });
    this.children.push(child);
    const pid = child.pid as number;
    while (mntOf(pid) === self) await new Promise((r) => setTimeout(r, 2));
    return pid;
  }

  /** Another `sleep` in the namespace of `leader`. */
  async joiner(leader: number): Promise<void> {
    const want = mntOf(leader);
    const child = spawn('nsenter', ['-t', String(leader), '-m', '--', 'sleep', '100000'], { stdio: 'ignore' });
    this.children.push(child);
    while (mntOf(child.pid as number) !== want) await new Promise((r) => setTimeout(r, 2));
  }

  fstab(name: string, count: number): string {
    const dir = path.join(this.root, name);
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      mkdirSync(path.join(dir, String(i)), { recursive: true });
      lines.push(`${name}${i} ${path.join(dir, String(i))} tmpfs rw,size=4k 0 0`);
    }
    const file = path.join(this.root, `${name}.fstab`);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  async build(): Promise<{ bigPid: number; smallPids: number[] }> {
    const small = this.fstab('m', MOUNTS_PER_NS);
    const smallPids: number[] = [];
    for (let start = 0; start < NAMESPACES; start += BUILD_PARALLEL) {
      const batch = Array.from({ length: Math.min(BUILD_PARALLEL, NAMESPACES - start) }, async () => {
        const pid = await this.leader();
        await run('nsenter', ['-t', String(pid), '-m', '--', 'mount', '-a', '-T', small]);
        for (let j = 1; j < PROCS_PER_NS; j++) await this.joiner(pid);
        smallPids.push(pid);
      });
      await Promise.all(batch);
    }
    mkdirSync(this.nsDir);
    await run('mount', ['--bind', '--make-private', this.nsDir, this.nsDir]);
    this.nsDirMounted = true;
    for (let i = 0; i < PERSISTED; i++) {
      const file = path.join(this.nsDir, `p${i}`);
      writeFileSync(file, '');
      await run('unshare', [`--mount=${file}`, '--propagation', 'private', '--', 'true']);
    }
    const bigPid = await this.leader();
    await run('nsenter', ['-t', String(bigPid), '-m', '--', 'mount', '-a', '-T', this.fstab('big', BIG_MOUNTS)]);
    return { bigPid, smallPids };
  }

  async dispose(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    if (this.nsDirMounted) {
      for (let i = 0; i < PERSISTED; i++) await run('umount', [path.join(this.nsDir, `p${i}`)]).catch(() => undefined); // Swallow: never made
      await run('umount', [this.nsDir]).catch(() => run('umount', ['--lazy', this.nsDir]));
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** The namespace routes through the real app when the server is complete, else on a bare Express app. */
async function httpServer(
  engine: NamespaceEngine,
  nsDir: string,
): Promise<{ label: string; get(p: string): Promise<unknown>; close(): Promise<void> }> {
  try {
    const { startServer } = await import('../helpers/server.js');
    const s = await startServer({ nsDir });
    return { label: 'HTTP', get: async (p) => (await s.api(p)).json(), close: () => s.close() };
  } catch {
    const { startNamespaceApp } = await import('../helpers/ns-app.js');
    const a = await startNamespaceApp(engine);
    return { label: 'HTTP (router only)', get: async (p) => (await a.request(p)).json(), close: () => a.close() };
  }
}

function ms(x: number): string {
  return `${x.toFixed(1)} ms`;
}

/** p95 of mount/umount → watcher, timed from just before spawning `nsenter … mount` (so spawn cost counts). */
async function watchLatency(engine: NamespaceEngine, pids: [number, number]): Promise<number[]> {
  const [a, b] = pids;
  const idA = `mnt:${(mntOf(a) as string).slice(5, -1)}`;
  const idB = `mnt:${(mntOf(b) as string).slice(5, -1)}`;
  let latest: { at: number; has: boolean } | null = null;
  const target = path.join(tmpdir(), `nsconsole-bench-latency-${process.pid}`);
  mkdirSync(target, { recursive: true });
  const h = engine.watch(
    (e) => {
      if (e.type === 'mounts' && e.id === idA)
        latest = { at: performance.now(), has: e.mounts.some((m) => m.target === target) };
    },
    [idA, idB],
  );
  const samples: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const mounting = i % 2 === 0;
      latest = null;
      const t0 = performance.now();
      await run('nsenter', [
        '-t',
        String(a),
        '-m',
        '--',
        ...(mounting ? ['mount', '-t', 'tmpfs', 'lat', target] : ['umount', target]),
      ]);
      while ((latest as { has: boolean } | null)?.has !== mounting) await new Promise((r) => setTimeout(r, 1));
      samples.push((latest as unknown as { at: number }).at - t0);
      await new Promise((r) => setTimeout(r, 37)); // de-correlate from the poll interval
    }
  } finally {
    h.dispose();
    rmSync(target, { recursive: true, force: true }); // the mount lives only inside namespace A
  }
  return samples;
}

function lastPid(): number {
  return Number(readFileSync('/proc/loadavg', 'latin1').trim().split(' ')[4]);
}

/**
 * What watching two namespaces and the list costs: CPU of a process running the engine that watches, minus
 * that of one running the engine alone, started together and measured over the same window after the same
 * settling time (see watch-cpu-child.ts). Also how many processes the machine started meanwhile: each start
 * makes the list rescan.
 */
async function watchCpu(
  nsDir: string,
  ids: [string, string],
): Promise<{ watching: number; alone: number; startsPerSec: number }> {
  const child = fileURLToPath(new URL('./watch-cpu-child.js', import.meta.url));
  const args = (mode: string) => [child, mode, String(SETTLE_MS), String(CPU_WINDOW_MS), nsDir, ...ids];
  const pid0 = lastPid();
  const [watching, alone] = await Promise.all([
    run(process.execPath, args('watch')),
    run(process.execPath, args('idle')),
  ]);
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
  const started = (lastPid() - pid0 + pidMax) % pidMax;
  const share = (out: string) => {
    const { cpuMs, wallMs } = JSON.parse(out) as { cpuMs: number; wallMs: number };
    return cpuMs / wallMs;
  };
  return {
    watching: share(watching),
    alone: share(alone),
    startsPerSec: started / ((SETTLE_MS + CPU_WINDOW_MS) / 1000),
  };
}

function cpuRow(figure: string, m: { watching: number; alone: number }): Row {
  const cost = Math.max(0, m.watching - m.alone);
  return {
    figure,
    ours: `${(cost * 100).toFixed(2)}% (${(m.watching * 100).toFixed(2)}% in all)`,
    baseline: `same engine not watching ${(m.alone * 100).toFixed(2)}%`,
    ratio: cost / 0.01,
    target: '≤ 1%',
    met: cost <= 0.01,
    command: `engine.watch(2 ids) in a child process vs one not watching, process.cpuUsage over ${CPU_WINDOW_MS / 1000} s after ${SETTLE_MS / 1000} s`,
  };
}

export async function benchNamespaces(): Promise<Row[]> {
  const rows: Row[] = [];
  const load = new BenchLoad();
  const engine = createNamespaceEngine({ nsDir: load.nsDir, log });
  let http: Awaited<ReturnType<typeof httpServer>> | null = null;
  try {
    // Idle CPU first, on the machine as it is (plus two watched namespaces), then again under the full load.
    const idleA = await load.leader();
    const idleB = await load.leader();
    const idleIds: [string, string] = [
      `mnt:${(mntOf(idleA) as string).slice(5, -1)}`,
      `mnt:${(mntOf(idleB) as string).slice(5, -1)}`,
    ];
    const idle = await watchCpu(load.nsDir, idleIds);
    rows.push(
      cpuRow(
        `CPU: 2 watched namespaces + list, nothing changing in them (machine started ${idle.startsPerSec.toFixed(0)} processes/s)`,
        idle,
      ),
    );

    const { bigPid, smallPids } = await load.build();
    const bigId = `mnt:${(mntOf(bigPid) as string).slice(5, -1)}`;
    const procs = readFileSync('/proc/loadavg', 'utf8').split(' ')[3];
    const loadNote = `${NAMESPACES}×${PROCS_PER_NS} procs, ${MOUNTS_PER_NS} tmpfs each, ${PERSISTED} persisted (${procs} tasks)`;

    const [list, lsns] = await pairedMedians(
      () => engine.list(),
      () => run('lsns', ['-J']),
    );
    rows.push({
      figure: `namespace list, engine (${loadNote})`,
      ours: ms(list),
      baseline: `lsns -J ${ms(lsns)}`,
      ratio: list / lsns,
      target: '≤ 0.5×',
      met: list / lsns <= 0.5,
      command: 'engine.list() vs lsns -J, median of 9',
    });
    http = await httpServer(engine, path.join(load.root, 'http-ns'));
    const h = http;
    const [listHttp, lsnsAgain] = await pairedMedians(
      () => h.get('/api/namespaces'),
      () => run('lsns', ['-J']),
    );
    rows.push({
      figure: `GET /api/namespaces, ${h.label}`,
      ours: ms(listHttp),
      baseline: `lsns -J ${ms(lsnsAgain)}`,
      ratio: listHttp / lsnsAgain,
      target: '≤ 0.5×',
      met: listHttp / lsnsAgain <= 0.5,
      command: 'fetch /api/namespaces vs lsns -J, median of 9',
    });

    const findmntRun = () => run('findmnt', ['-J', '--task', String(bigPid)]);
    const [table, findmnt] = await pairedMedians(() => engine.mounts(bigId), findmntRun);
    rows.push({
      figure: `mount table, ${BIG_MOUNTS} mounts, engine`,
      ours: ms(table),
      baseline: `findmnt -J --task PID ${ms(findmnt)}`,
      ratio: table / findmnt,
      target: '≤ 1.5×',
      met: table / findmnt <= 1.5,
      command: 'engine.mounts(id) vs findmnt -J --task PID, median of 9',
    });
    const [tableHttp, findmntAgain] = await pairedMedians(() => h.get(`/api/namespaces/${bigId}/mounts`), findmntRun);
    rows.push({
      figure: `GET /api/namespaces/:id/mounts, ${BIG_MOUNTS} mounts, ${h.label}`,
      ours: ms(tableHttp),
      baseline: `findmnt -J --task PID ${ms(findmntAgain)}`,
      ratio: tableHttp / findmntAgain,
      target: '≤ 1.5×',
      met: tableHttp / findmntAgain <= 1.5,
      command: 'fetch …/mounts vs findmnt -J --task PID, median of 9',
    });

    const lat = await watchLatency(engine, [smallPids[0] as number, smallPids[1] as number]);
    const p95 = percentile(lat, 95);
    rows.push({
      figure: `mount/umount → watcher, p95 of ${lat.length} (under load)`,
      ours: `${ms(p95)} (median ${ms(median(lat))})`,
      baseline: 'lxkns polls 0.5 s–5 min',
      ratio: p95 / 250,
      target: '≤ 250 ms',
      met: p95 <= 250,
      command: 'nsenter -t PID -m mount -t tmpfs … → engine.watch event',
    });

    const loaded = await watchCpu(load.nsDir, [bigId, `mnt:${(mntOf(smallPids[2] as number) as string).slice(5, -1)}`]);
    rows.push(
      cpuRow(
        `CPU: 2 watched (one with ${BIG_MOUNTS} mounts) + list, bench load (machine started ${loaded.startsPerSec.toFixed(0)} processes/s)`,
        loaded,
      ),
    );
    return rows;
  } finally {
    await http?.close().catch(() => undefined); // Swallow: the bench's own state is cleaned below regardless
    engine.dispose();
    await load.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchNamespaces().then(
    (rows) => {
      for (const r of rows)
        process.stdout.write(
          `${r.figure}\t${r.ours}\t${r.baseline}\t${r.ratio.toFixed(2)}\t${r.target}\t${r.met ? 'met' : 'NOT met'}\n`,
        );
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
