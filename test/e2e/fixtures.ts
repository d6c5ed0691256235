// A real nsconsole server per test: `node dist/server/main.js --port 0 --token T --ns-dir D --shell S`, ready when it
// prints its one line `nsconsole: http://HOST:PORT/?token=T`. Teardown stops it (SIGTERM, then waits) and
// removes its namespace dir, lazily unmounting whatever is still mounted under it, even when the test failed.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test as base, expect } from '@playwright/test';

export interface ServerInfo {
  /** the printed URL, with `?token=` (opening it logs the browser in) */
  url: string;
  origin: string;
  token: string;
  nsDir: string;
}

const REPO = resolve(import.meta.dirname, '../..');
const READY_LINE = /^nsconsole: (http:\/\/\S+\/\?token=\S+)$/;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo, octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + '/'));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** `umount -l` everything under `dir` (repeatedly: stacked mounts), then `rm -rf` it. Never throws. */
export function removeTree(dir: string): void {
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(dir);
    if (!points.length) break;
    for (const p of points) {
      try {
        execFileSync('umount', ['-l', p], { stdio: 'ignore' });
      } catch {
        // Swallow: already gone, or a parent's lazy unmount took it along
      }
    }
  }
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    console.warn(`e2e cleanup: could not remove ${dir}:`, e);
  }
}

/**
 * The shell the server starts (`--shell`): bash with a plain rc file of ours. The machine's dotfiles must not
 * decide whether a test passes (e.g. a `pyenv rehash` in /root/.bashrc waits up to 60 s on a lock left behind
 * by a killed shell). Shells started from it (`unshare`, `nsenter` use $SHELL) get the same.
 */
function hermeticShell(base: string): string {
  const rc = join(base, 'bashrc');
  writeFileSync(rc, "PS1='\\u@\\h:\\w\\$ '\n");
  const shell = join(base, 'bash');
  writeFileSync(shell, `#!/bin/sh\nexec /bin/bash --rcfile '${rc}' "$@"\n`, { mode: 0o755 });
  return shell;
}

function startServer(
  base: string,
  nsDir: string,
  token: string,
  log: string[],
  extraArgs: string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  const args = [
    'dist/server/main.js',
    '--port',
    '0',
    `--token=${token}`,
    '--ns-dir',
    nsDir,
    '--shell',
    hermeticShell(base),
    ...extraArgs,
  ];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => log.push(d));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not print its URL within ${START_TIMEOUT_MS} ms:\n${log.join('')}`)),
      START_TIMEOUT_MS,
    );
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      log.push(line + '\n');
      const m = READY_LINE.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveReady({ child, url: m[1]! });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited before it was ready (code ${code}, signal ${signal}):\n${log.join('')}`));
    });
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

export const test = base.extend<{ server: ServerInfo; serverArgs: string[] }>({
  /** more flags for the server (`test.use({ serverArgs: [...] })`) */
  serverArgs: [[], { option: true }],
  server: async ({ serverArgs }, use, testInfo) => {
    const base = mkdtempSync(join(tmpdir(), 'nsconsole-e2e-'));
    const nsDir = join(base, 'ns');
    const token = randomBytes(24).toString('hex'); // hex: a base64url token may start with '-', which parseArgs takes for a flag
    const log: string[] = [];
    let child: ChildProcess | undefined;
    try {
      const started = await startServer(base, nsDir, token, log, serverArgs);
      child = started.child;
      await use({ url: started.url, origin: new URL(started.url).origin, token, nsDir });
    } finally {
      if (child) await stopServer(child);
      removeTree(base);
      await testInfo.attach('server.log', { body: log.join(''), contentType: 'text/plain' });
    }
  },
});

export { expect };
