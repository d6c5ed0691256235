// Lesson figures, on a real server (in this process) with two real shells as its panes:
//  - kernel change → step state pushed: a tmpfs mounted under the lesson workspace until the /ws/events lesson
//    message says that step passed, p95 of 40 (target ≤ 250 ms); baseline: the same mount reaching the same
//    socket as a mount-table push (the engine's own latency, measured at the same moments).
//  - server CPU while a lesson is followed and nothing changes (target ≤ 0.5% of a CPU); baseline: the same
//    server and sockets with no lesson followed.
// Standalone: `npx tsc -b && node dist/test/bench/lessons-bench.js`. Never fails on time.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type WebSocket from 'ws';
import type { LessonDetail, LessonServerMessage } from '../../shared/lessons.js';
import { REPO_ROOT, startServer, type TestServer } from '../helpers/server.js';
import { percentile, type Row } from './row.js';

const SAMPLES = 40;
const CPU_SETTLE_MS = 3000;
const CPU_WINDOW_MS = 10_000;
const LATENCY_TARGET_MS = 250;
const CPU_TARGET = 0.005;
const WAIT_MS = 10_000;

function sh(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(file, args, (err, _o, stderr) =>
      err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(),
    ),
  );
}

/** A lesson of SAMPLES steps: step i passes once ${WORK}/mI is a tmpfs mount point outside. */
function benchLesson(): string {
  const steps = Array.from(
    { length: SAMPLES },
    (_, i) =>
      `  - title: Mount ${i}\n    commands:\n      - outside: mount -t tmpfs bench ${'${WORK}'}/m${i}\n    checks:\n      - mount: ${'${WORK}'}/m${i}\n        fstype: tmpfs\n`,
  );
  return `id: bench\ntitle: Bench\nsummary: ${SAMPLES} mounts, one a step.\nsteps:\n${steps.join('')}`;
}

interface Stream {
  ws: WebSocket;
  lesson: { at: number; msg: LessonServerMessage }[];
  tables: { at: number; targets: Set<string> }[];
}

async function openStream(server: TestServer): Promise<Stream> {
  const ws = server.ws('/ws/events');
  const s: Stream = { ws, lesson: [], tables: [] };
  ws.on('message', (d) => {
    const at = performance.now();
    const msg = JSON.parse(String(d)) as { type: string; mounts?: { target: string }[] };
    if (msg.type === 'lesson') s.lesson.push({ at, msg: msg as unknown as LessonServerMessage });
    if (msg.type === 'mounts') s.tables.push({ at, targets: new Set((msg.mounts ?? []).map((m) => m.target)) });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return s;
}

async function until<T>(find: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

async function session(server: TestServer): Promise<string> {
  const res = await server.api('/api/sessions', { method: 'POST', body: JSON.stringify({ target: { kind: 'host' } }) });
  return ((await res.json()) as { id: string }).id;
}

async function cpuShare(ms: number): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / (performance.now() - t0);
}

export async function benchLessons(): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-bench-lessons-'));
  copyFileSync(path.join(REPO_ROOT, 'lessons/mount-namespaces.yaml'), path.join(dir, 'mount-namespaces.yaml'));
  writeFileSync(path.join(dir, 'bench.yaml'), benchLesson());
  const server = await startServer({}, { lessonsDir: dir });
  const rows: Row[] = [];
  try {
    const panes = { outside: await session(server), inside: await session(server) };
    const s = await openStream(server);
    const self = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/mnt'))?.[1];
    s.ws.send(JSON.stringify({ type: 'watch', ids: [`mnt:${self}`] }));
    s.ws.send(JSON.stringify({ type: 'lesson', id: 'bench', panes }));
    const detail = (await (await server.api('/api/lessons/bench')).json()) as LessonDetail;
    const work = detail.variables.WORK as string;
    for (let i = 0; i < SAMPLES; i++) mkdirSync(`${work}/m${i}`);
    await until(() => s.lesson.at(-1), 'the first lesson push');
    await until(() => s.tables.at(-1), 'the first table push');

    const ours: number[] = [];
    const base: number[] = [];
    try {
      for (let i = 0; i < SAMPLES; i++) {
        const target = `${work}/m${i}`;
        const t0 = performance.now();
        await sh('mount', ['-t', 'tmpfs', 'bench', target]);
        const pushed = await until(
          () => s.lesson.find((p) => p.at >= t0 && p.msg.steps[i]?.state === 'passed'),
          `step ${i} to pass`,
        );
        const table = await until(
          () => s.tables.find((t) => t.at >= t0 && t.targets.has(target)),
          `the table with ${target}`,
        );
        ours.push(pushed.at - t0);
        base.push(table.at - t0);
      }
    } finally {
      await server.api('/api/lessons/bench/reset', { method: 'POST' });
    }
    const p95 = percentile(ours, 95);
    const b95 = percentile(base, 95);
    rows.push({
      figure: `lesson: kernel change (tmpfs mount) → step state pushed, p95 of ${SAMPLES}`,
      ours: `${p95.toFixed(1)} ms`,
      baseline: `${b95.toFixed(1)} ms (the same mount as a /ws/events table push)`,
      ratio: p95 / b95,
      target: `≤ ${LATENCY_TARGET_MS} ms`,
      met: p95 <= LATENCY_TARGET_MS,
      command:
        'npx tsc -b && node dist/test/bench/lessons-bench.js (t0 before spawning mount(8), so spawn time is included)',
    });

    // CPU: the same server, panes and socket; first not following a lesson, then following mount-namespaces.
    s.ws.send(JSON.stringify({ type: 'lesson', id: null, panes: {} }));
    await new Promise((r) => setTimeout(r, CPU_SETTLE_MS));
    const idle = await cpuShare(CPU_WINDOW_MS);
    s.ws.send(JSON.stringify({ type: 'lesson', id: 'mount-namespaces', panes }));
    await until(() => s.lesson.find((p) => p.msg.id === 'mount-namespaces'), 'the mount-namespaces progress');
    await new Promise((r) => setTimeout(r, CPU_SETTLE_MS));
    const open = await cpuShare(CPU_WINDOW_MS);
    rows.push({
      figure: 'lesson: server CPU while a lesson is open and nothing changes (whole process, both panes attached)',
      ours: `${(open * 100).toFixed(2)} % (lesson's own: ${(Math.max(0, open - idle) * 100).toFixed(2)} %)`,
      baseline: `${(idle * 100).toFixed(2)} % (no lesson followed)`,
      ratio: idle > 0 ? open / idle : 1,
      target: `≤ ${CPU_TARGET * 100} % of a CPU`,
      met: open - idle <= CPU_TARGET,
      command: `npx tsc -b && node dist/test/bench/lessons-bench.js (process.cpuUsage over ${CPU_WINDOW_MS / 1000} s after ${CPU_SETTLE_MS / 1000} s)`,
    });
    s.ws.terminate();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchLessons().then(
    (rows) => {
      for (const r of rows)
        process.stdout.write(
          `${r.figure}: ${r.ours} (baseline ${r.baseline}; target ${r.target}; met ${String(r.met)})\n`,
        );
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
