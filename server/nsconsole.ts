// The composition root: builds every part from a Config, listens, and owns the teardown order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config/config.js';
import type { Logger } from './log.js';
import { createAuth } from './http/auth.js';
import { createApp, defaultWebRoot } from './http/app.js';
import { namespaceRoutes } from './http/namespace-routes.js';
import { containerRoutes } from './http/container-routes.js';
import { ContainerTracker } from './containers/tracker.js';
import { sessionRoutes } from './http/session-routes.js';
import { createNamespaceEngine } from './namespaces/engine.js';
import { createLauncher } from './terminals/launch.js';
import { createTerminalRegistry } from './terminals/registry.js';
import { createUpgradeHandler } from './ws/upgrade.js';
import { startHeartbeat } from './ws/heartbeat.js';
import { attachEventClient } from './ws/event-stream.js';
import { terminalUpgrades } from './ws/terminal-stream.js';

export interface RunningServer {
  port: number;
  /** `http://HOST:PORT/?token=TOKEN` */
  url: string;
  /** stop accepting, end every session's process group, release watchers; resolves when done */
  close(): Promise<void>;
}

export interface StartOptions {
  webRoot?: string;
  heartbeatMs?: number;
}

/** Our package.json's version; found by walking up, since this runs from server/ (tests) and dist/server/. */
export function packageVersion(): string {
  for (let dir = import.meta.dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
    if (pkg.name === 'nsconsole' && typeof pkg.version === 'string') return pkg.version;
  }
  return '0.0.0';
}

export async function startNsconsole(config: Config, log: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  const containers = new ContainerTracker({ dockerSocket: config.dockerSocket ?? '/var/run/docker.sock', log });
  const engine = createNamespaceEngine({ nsDir: config.nsDir, log, kernelEvents: config.watch === 'events', annotate: (snap) => containers.annotate(snap) });
  containers.attach(() => engine.list('mnt'));
  const registry = createTerminalRegistry({ config, log, launch: createLauncher({ shell: config.shell, engine, containers }) });
  let port = config.port;
  const auth = createAuth({
    token: config.token,
    sessionIdForViewerToken: (t) => registry.sessionIdForViewerToken(t),
    allowHosts: config.allowHosts,
    host: config.host,
    port: () => port,
  });
  const app = createApp({
    log,
    auth,
    version: packageVersion(),
    webRoot: opts.webRoot ?? defaultWebRoot(),
    namespaceRoutes: namespaceRoutes(engine),
    sessionRoutes: sessionRoutes(registry),
    containerRoutes: containerRoutes(containers),
  });
  const server = http.createServer(app);
  const upgrades = createUpgradeHandler({
    auth,
    log,
    ...terminalUpgrades(registry, log),
    onEvents: (ws) => attachEventClient(ws, engine, log),
  });
  server.on('upgrade', upgrades.handle);
  const heartbeat = startHeartbeat(upgrades.servers, opts.heartbeatMs);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      server.close();
      heartbeat.dispose();
      upgrades.close();
      server.closeAllConnections();
      await registry.disposeAll();
      engine.dispose();
    })());

  return { port, url: `http://${hostForUrl}:${port}/?token=${encodeURIComponent(config.token)}`, close };
}
