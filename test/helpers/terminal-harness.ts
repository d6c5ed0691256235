// A real HTTP + WebSocket server for the terminal engine alone: the lead's app, auth and upgrade handler, with
// the session routes and registry, but no namespace engine (a test passes its own `entryFor` when it needs one).
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import express from 'express';
import WebSocket from 'ws';
import type { Config } from '../../server/config/config.js';
import { createApp } from '../../server/http/app.js';
import { createAuth } from '../../server/http/auth.js';
import { sessionRoutes } from '../../server/http/session-routes.js';
import { createLogger } from '../../server/log.js';
import { createLauncher, type NamespaceEntryResolver } from '../../server/terminals/launch.js';
import { createTerminalRegistry, type TerminalRegistry } from '../../server/terminals/registry.js';
import { terminalUpgrades } from '../../server/ws/terminal-stream.js';
import { createUpgradeHandler } from '../../server/ws/upgrade.js';

export interface TerminalHarness {
  base: string;
  port: number;
  token: string;
  registry: TerminalRegistry;
  /** `NAME=value` in the environment of every process this harness's shells start (see pidsWithMark) */
  mark: string;
  /** fetch with the owner's Bearer token */
  api(pathname: string, init?: RequestInit): Promise<Response>;
  /** creates a session (POST /api/sessions) and returns its info */
  createSession(body?: object): Promise<{ id: string; pid: number }>;
  /** `ws://…/ws/sessions/ID`, as owner, or as viewer when a view token is given */
  wsUrl(sessionId: string, viewToken?: string): string;
  openWs(sessionId: string, viewToken?: string): WebSocket;
  close(): Promise<void>;
}

export interface HarnessOptions {
  config?: Partial<Config>;
  engine?: NamespaceEntryResolver;
  createRate?: { burst: number; perSecond: number };
}

const noEngine: NamespaceEntryResolver = {
  entryFor: () => Promise.reject(new Error('this harness has no namespace engine')),
};

/**
 * Tests run bash without rc files: a user's ~/.bashrc makes shells slow and non-deterministic, and some take
 * locks (pyenv's `rehash`) that a shell killed at startup leaves behind, stalling every later shell.
 */
export function hermeticShell(): { shell: string; mark: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-shell-'));
  const shell = path.join(dir, 'bash-norc');
  const mark = `NSCONSOLE_TEST_MARK=${path.basename(dir)}`;
  writeFileSync(shell, `#!/bin/bash\nexport ${mark}\nexec /bin/bash --norc --noprofile "$@"\n`);
  chmodSync(shell, 0o755);
  return { shell, mark, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startTerminalHarness(opts: HarnessOptions = {}): Promise<TerminalHarness> {
  const testShell = hermeticShell();
  const config: Config = {
    host: '127.0.0.1',
    port: 0,
    token: randomBytes(24).toString('base64url'),
    nsDir: '/nonexistent',
    shell: testShell.shell,
    allowHosts: [],
    sessionGraceMs: 60_000,
    maxSessions: 64,
    maxClientsPerSession: 16,
    scrollback: 1000,
    watch: 'events',
    ...opts.config,
  };
  const log = createLogger(process.env.NSCONSOLE_LOG_LEVEL ?? 'silent');
  const registry = createTerminalRegistry({
    config,
    log,
    launch: createLauncher({ shell: config.shell, engine: opts.engine ?? noEngine }),
    createRate: opts.createRate ?? { burst: 100_000, perSecond: 100_000 },
  });
  let port = 0;
  const auth = createAuth({
    token: config.token,
    sessionIdForViewerToken: (t) => registry.sessionIdForViewerToken(t),
    allowHosts: [],
    host: config.host,
    port: () => port,
  });
  const app = createApp({
    log,
    auth,
    version: 'test',
    webRoot: '/nonexistent',
    namespaceRoutes: express.Router(),
    sessionRoutes: sessionRoutes(registry),
  });
  const server = http.createServer(app);
  const upgrades = createUpgradeHandler({
    auth,
    log,
    ...terminalUpgrades(registry, log),
    onEvents: (ws) => ws.close(1000),
  });
  server.on('upgrade', upgrades.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const api = (pathname: string, init: RequestInit = {}) =>
    fetch(base + pathname, {
      ...init,
      headers: {
        authorization: `Bearer ${config.token}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  const wsUrl = (id: string, view?: string) =>
    `ws://127.0.0.1:${port}/ws/sessions/${id}${view ? `?view=${encodeURIComponent(view)}` : ''}`;
  return {
    base,
    port,
    token: config.token,
    registry,
    mark: testShell.mark,
    api,
    async createSession(body = {}) {
      const res = await api('/api/sessions', { method: 'POST', body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`POST /api/sessions → ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string; pid: number };
    },
    wsUrl,
    openWs: (id, view) =>
      new WebSocket(wsUrl(id, view), view ? {} : { headers: { authorization: `Bearer ${config.token}` } }),
    async close() {
      upgrades.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await registry.disposeAll();
      testShell.cleanup();
    },
  };
}
