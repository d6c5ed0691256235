// Container figures with a private Docker daemon (test/integration/containers-daemon.ts) and 50 running
// containers:
//  - the namespace list with containers named (engine + tracker + API names) vs `lsns -J`   target ≤ 0.5×
//  - GET /api/containers (HTTP, a fresh scan) vs `docker ps` on the same daemon                 target ≤ 1×
//  - `docker run -d` returning → the container named in the live list: p95                    target ≤ 1000 ms
// Standalone: `npx tsc -b && node dist/test/bench/containers-bench.js`. Never fails on time.
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import type { NamespaceList } from '../../shared/api.js';
import type { EventsServerMessage } from '../../shared/events.js';
import { ContainerTracker } from '../../server/containers/tracker.js';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine } from '../../server/namespaces/engine.js';
import { cannotStartReason, SHELL_IMAGE, startDaemon } from '../integration/containers-daemon.js';
import { startServer } from '../helpers/server.js';
import { median, percentile, type Row } from './row.js';

const CONTAINERS = 50;
const RUNS = 9;
const LATENCY_SAMPLES = 10;
/** Containers started at once: enough to hide docker's latency, few enough not to swamp two cores. */
const START_PARALLEL = 5;

function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function paired(ours: () => Promise<unknown>, baseline: () => Promise<unknown>): Promise<[number, number]> {
  await ours();
  await baseline();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    a.push(await timed(ours));
    b.push(await timed(baseline));
  }
  return [median(a), median(b)];
}

export async function benchContainers(): Promise<Row[]> {
  const why = cannotStartReason();
  if (why) throw new Error(`no Docker here: ${why}`);
  const say = (what: string) => process.stderr.write(`containers bench: ${what}\n`);
  say('starting a private Docker daemon');
  const daemon = await startDaemon();
  say(`starting ${CONTAINERS} containers`);
  const log = createLogger('silent');
  const env = { ...process.env, DOCKER_HOST: `unix://${daemon.socket}` };
  try {
    for (let i = 0; i < CONTAINERS; i += START_PARALLEL) {
      await Promise.all(
        Array.from({ length: Math.min(START_PARALLEL, CONTAINERS - i) }, (_, j) =>
          daemon.dockerAsync(
            'run',
            '-d',
            '--name',
            `bench-${i + j}`,
            '--network',
            'none',
            SHELL_IMAGE,
            'sleep',
            '100000',
          ),
        ),
      );
    }
    say('measuring the list');
    const tracker = new ContainerTracker({ dockerSocket: daemon.socket, log });
    const engine = createNamespaceEngine({
      nsDir: '/nonexistent-containers-bench',
      log,
      // As the server runs on this kernel: mount events keep each container's nsfs scan cached until it changes.
      kernelEvents: true,
      annotate: (snap) => tracker.annotate(snap),
    });
    tracker.attach(() => engine.list('mnt'));
    const named = (await engine.list()).namespaces.filter((n) =>
      n.containers?.some((c) => c.name.startsWith('bench-')),
    ).length;
    const [list, lsns] = await paired(
      () => engine.list(),
      () => run('lsns', ['-J']),
    );
    engine.dispose();

    const srv = await startServer({ dockerSocket: daemon.socket });
    let latencies: number[] = [];
    let apiMs = 0;
    let dockerPs = 0;
    try {
      [apiMs, dockerPs] = await paired(
        async () => (await srv.api('/api/containers')).json(),
        () => run('docker', ['ps', '--no-trunc'], env),
      );
      const ws = srv.ws('/ws/events');
      const lists: { at: number; list: NamespaceList }[] = [];
      ws.on('message', (d: WebSocket.RawData) => {
        const msg = JSON.parse(d.toString()) as EventsServerMessage;
        if (msg.type === 'namespaces') lists.push({ at: performance.now(), list: msg });
      });
      await new Promise((r) => ws.once('open', r));
      say('measuring docker run → live list');
      latencies = [];
      for (let i = 0; i < LATENCY_SAMPLES; i++) {
        const name = `bench-live-${i}`;
        const cid = (
          await daemon.dockerAsync('run', '-d', '--name', name, '--network', 'none', SHELL_IMAGE, 'sleep', '100000')
        ).trim();
        const returned = performance.now();
        const deadline = returned + 10_000;
        let seen: number | null = null;
        while (seen === null && performance.now() < deadline) {
          seen =
            lists.find((m) => m.list.namespaces.some((n) => n.containers?.some((c) => c.name === name)))?.at ?? null;
          if (seen === null) await new Promise((r) => setTimeout(r, 5));
        }
        latencies.push(seen === null ? 10_000 : Math.max(0, seen - returned));
        if (process.env.BENCH_DEBUG) {
          const unnamed = lists.find((m) => m.list.namespaces.some((n) => n.containers?.some((c) => c.id === cid)));
          say(
            `${name}: named ${seen === null ? 'never' : (seen - returned).toFixed(0)} ms, listed ${unnamed ? (unnamed.at - returned).toFixed(0) : 'never'} ms, lists ${lists.length}`,
          );
        }
      }
      ws.close();
    } finally {
      await srv.close();
    }
    const p95 = percentile(latencies, 95);
    return [
      {
        figure: `namespace list, ${CONTAINERS} containers named (${named} rows labelled)`,
        ours: `${list.toFixed(1)} ms`,
        baseline: `lsns -J ${lsns.toFixed(1)} ms`,
        ratio: list / lsns,
        target: '≤ 0.5×',
        met: list / lsns <= 0.5,
        command: 'npm run bench -- containers',
      },
      {
        figure: `GET /api/containers, ${CONTAINERS} containers`,
        ours: `${apiMs.toFixed(1)} ms`,
        baseline: `docker ps ${dockerPs.toFixed(1)} ms`,
        ratio: apiMs / dockerPs,
        target: '≤ 1×',
        met: apiMs <= dockerPs,
        command: 'npm run bench -- containers',
      },
      {
        figure: 'docker run -d returned → named in the live list, p95',
        ours: `${p95.toFixed(0)} ms (median ${median(latencies).toFixed(0)})`,
        baseline: '1000 ms',
        ratio: p95 / 1000,
        target: '≤ 1000 ms',
        met: p95 <= 1000,
        command: 'npm run bench -- containers',
      },
    ];
  } finally {
    await daemon.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchContainers().then(
    (rows) => {
      for (const r of rows)
        console.log(`${r.figure}: ${r.ours} vs ${r.baseline} → ${r.ratio.toFixed(2)} (${r.target})`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
