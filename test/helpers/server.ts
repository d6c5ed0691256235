// Starts the real server in-process on port 0 with a temp ns-dir; close() ends its sessions and removes the dir.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import type { Config } from '../../server/config/config.js';
import { createLogger } from '../../server/log.js';
import { startNsconsole, type StartOptions } from '../../server/nsconsole.js';

export interface TestServer {
  base: string;
  port: number;
  token: string;
  nsDir: string;
  config: Config;
  /** fetch with the Bearer token */
  api(pathname: string, init?: RequestInit): Promise<Response>;
  /** a ws client on `pathname` with the token (override headers to test the guards) */
  ws(pathname: string, headers?: Record<string, string>): WebSocket;
  close(): Promise<void>;
}

/** The checkout's root, whether this runs from test/ (vitest) or compiled from dist/test/ (benchmarks). */
export const REPO_ROOT = findRepoRoot(import.meta.dirname);

function findRepoRoot(from: string): string {
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package-lock.json'))) return dir;
  }
  throw new Error(`no package-lock.json above ${from}`);
}

export async function startServer(overrides: Partial<Config> = {}, start: StartOptions = {}): Promise<TestServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nsconsole-test-'));
  // bash without the machine's rc files: they make shells slow and non-deterministic, and some take locks
  // (pyenv's rehash) that a shell killed at startup leaves behind, stalling every later shell.
  const shell = path.join(dir, 'bash-norc');
  await writeFile(shell, '#!/bin/sh\nexec /bin/bash --norc --noprofile "$@"\n', { mode: 0o755 });
  const config: Config = {
    host: '127.0.0.1',
    port: 0,
    token: randomBytes(24).toString('base64url'),
    nsDir: path.join(dir, 'ns'),
    shell,
    allowHosts: [],
    sessionGraceMs: 60_000,
    maxSessions: 64,
    maxClientsPerSession: 16,
    scrollback: 1000,
    watch: 'events',
    ...overrides,
  };
  const running = await startNsconsole(config, createLogger(process.env.NSCONSOLE_LOG_LEVEL ?? 'silent'), {
    webRoot: path.join(REPO_ROOT, 'dist/web'),
    ...start,
  }).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true }); // a server that failed to start must not leave its dir
    throw err;
  });
  const base = `http://127.0.0.1:${running.port}`;
  return {
    base,
    port: running.port,
    token: config.token,
    nsDir: config.nsDir,
    config,
    api: (pathname, init = {}) =>
      fetch(base + pathname, {
        ...init,
        headers: {
          authorization: `Bearer ${config.token}`,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...(init.headers as Record<string, string> | undefined),
        },
      }),
    ws: (pathname, headers) =>
      new WebSocket(`ws://127.0.0.1:${running.port}${pathname}`, {
        headers: headers ?? { authorization: `Bearer ${config.token}` },
      }),
    async close() {
      await running.close();
      // The engine makes the ns-dir a private bind mount and persists namespaces in it: unmount all of it
      // (recursively, nsfs binds included) before removing the dir. Not mounted is fine.
      spawnSync('umount', ['--recursive', '--lazy', config.nsDir], { stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the HTTP status a refused upgrade answered, or 101 when it was accepted. */
export function upgradeStatus(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}
