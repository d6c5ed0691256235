// What a sandbox costs (--sandbox):
//  - sandbox start → first prompt: POST /api/sessions on a server whose owner has no sandbox yet, until the
//    shell's prompt arrives over the WebSocket (creation, setup mounts, cgroups, nsenter, bash)   target p95 ≤ 300 ms
//    baseline: the same on a host shell (no --sandbox)
//  - sandbox destroy (reset: SIGKILL its pid 1, wait for every process, remove its cgroups)
//  - memory of one sandbox with an idle shell (RSS of every process in its cgroups)
// Standalone: `npx tsc -b && node dist/test/bench/sandbox-bench.js`. Never fails on time.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../../server/log.js';
import { sandboxCgroupDirs } from '../../server/sandbox/cgroups.js';
import { createSandboxManager } from '../../server/sandbox/manager.js';
import { sandboxConfig, SandboxShell, startSandboxServer } from '../helpers/sandbox.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { median, percentile, type Row } from './row.js';

const RUNS = 15;
const START_TARGET_MS = 300;
const UID_START = 910_000;

async function firstPrompt(server: TestServer): Promise<number> {
  const t0 = performance.now();
  const shell = await SandboxShell.open(server);
  const ms = performance.now() - t0;
  shell.dispose();
  return ms;
}

function rssKiB(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // exited while measured
  }
}

export async function benchSandbox(): Promise<Row[]> {
  const sandboxed: number[] = [];
  const host: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // A fresh server each run: its owner has no sandbox yet, so the first session creates one.
    const s = await startSandboxServer(UID_START);
    try {
      sandboxed.push(await firstPrompt(s));
    } finally {
      await s.close();
    }
    const h = await startServer(); // bash without rc files, as the sandbox's bash has none of root's
    try {
      host.push(await firstPrompt(h));
    } finally {
      await h.close();
    }
  }

  const manager = createSandboxManager(sandboxConfig(UID_START), createLogger('silent'));
  const destroy: number[] = [];
  let rss = 0;
  try {
    for (let i = 0; i < RUNS; i++) {
      await manager.get('bench');
      const t0 = performance.now();
      await manager.reset('bench');
      destroy.push(performance.now() - t0);
    }
    const sb = await manager.get('bench');
    const { file, args, plan } = sb.command(['/bin/bash', '--norc', '-i'], { cwd: '/root' });
    const { spawn } = await import('node:child_process');
    const child = spawn(file, args, { stdio: ['pipe', 'ignore', 'ignore'] });
    plan.hold(child.pid ?? null);
    await new Promise((r) => setTimeout(r, 300)); // bench only: let bash settle before its RSS is read
    const procs = readFileSync(
      `${sandboxCgroupDirs().find((d) => d.includes('/pids/') || d.includes('nsconsole-sandbox-')) as string}/cgroup.procs`,
      'utf8',
    )
      .split('\n')
      .filter(Boolean)
      .map(Number);
    rss = procs.reduce((sum, pid) => sum + rssKiB(pid), 0);
    child.kill('SIGKILL');
  } finally {
    await manager.dispose();
  }

  const p95 = percentile(sandboxed, 95);
  const hostP95 = percentile(host, 95);
  const cmd = 'npx tsc -b && node dist/test/bench/sandbox-bench.js';
  return [
    {
      figure: `sandbox start → first prompt, p95 (median ${median(sandboxed).toFixed(0)} ms, ${RUNS} runs)`,
      ours: `${p95.toFixed(0)} ms`,
      baseline: `host shell ${hostP95.toFixed(0)} ms`,
      ratio: p95 / START_TARGET_MS,
      target: `≤ ${START_TARGET_MS} ms`,
      command: cmd,
      met: p95 <= START_TARGET_MS,
    },
    {
      figure: 'sandbox reset (destroy + create), median',
      ours: `${median(destroy).toFixed(0)} ms`,
      baseline: '—',
      ratio: 1,
      target: '—',
      command: cmd,
    },
    {
      figure: 'one sandbox with an idle bash: RSS of its processes (init, unshare, nsenter, bash)',
      ours: `${(rss / 1024).toFixed(1)} MiB`,
      baseline: '—',
      ratio: 1,
      target: '—',
      command: cmd,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchSandbox();
  for (const r of rows) console.log(`${r.figure}: ${r.ours} (baseline ${r.baseline}, target ${r.target})`);
}
