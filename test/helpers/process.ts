// The built server as a child process, the way a user runs it: `node dist/server/main.js FLAGS`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './server.js';

export const MAIN_JS = path.join(REPO_ROOT, 'dist/server/main.js');

export interface ServerProcess {
  child: ChildProcess;
  url: URL;
  base: string;
  token: string;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export async function spawnServer(extraArgs: string[] = [], opts: { uid?: number } = {}): Promise<ServerProcess> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run \`npm run build\` first (npm test does)`);
  const dir = await mkdtemp(path.join(tmpdir(), 'nsconsole-proc-'));
  if (opts.uid !== undefined) await chmod(dir, 0o755); // an unprivileged server must reach its shell wrapper
  const nsDir = path.join(dir, 'ns');
  // bash without the machine's rc files (see startServer in server.ts for why)
  const shell = path.join(dir, 'bash-norc');
  await writeFile(shell, '#!/bin/sh\nexec /bin/bash --norc --noprofile "$@"\n', { mode: 0o755 });
  // BENCH_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) lets a benchmark's server be profiled.
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(
    process.execPath,
    [...nodeArgs, MAIN_JS, '--port', '0', '--ns-dir', nsDir, '--shell', shell, ...extraArgs],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
    },
  );
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', () => reject(new Error(`server exited before printing its URL:\n${stderr}`)));
  });
  const m = /^nsconsole: (https?:\/\/\S+)$/.exec(line);
  if (!m) throw new Error(`unexpected first line: ${line}`);
  const url = new URL(m[1] as string);
  const cleanup = async () => {
    spawnSync('umount', ['--recursive', '--lazy', nsDir], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  };
  return {
    child,
    url,
    base: url.origin,
    token: url.searchParams.get('token') ?? '',
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await cleanup();
    },
  };
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
