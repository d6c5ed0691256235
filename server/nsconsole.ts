// The composition root: builds every part from a Config, listens, and owns the teardown order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
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
import { createSandboxLauncher } from './sandbox/launch.js';
import { createSandboxManager, TOKEN_OWNER } from './sandbox/manager.js';
import { sandboxOffRoutes, sandboxRoutes } from './sandbox/routes.js';
import { scopedEngine } from './sandbox/scope.js';
import { createUpgradeHandler, viewToken } from './ws/upgrade.js';
import { startHeartbeat } from './ws/heartbeat.js';
import { createEventStreams, type EventStreamLimits } from './ws/event-stream.js';
import { installConnectionLimits, SERVER_TIMEOUT_OPTIONS } from './http/conn-limits.js';
import type { Rate } from './limits/token-bucket.js';
import { terminalUpgrades } from './ws/terminal-stream.js';
import { defaultLessonsDir, LessonService } from './lessons/service.js';
import { lessonRoutes } from './lessons/routes.js';
import * as z from 'zod/mini';

// The shared schemas are built with zod/mini, which loads no messages (every issue reads "Invalid input"); the
// server answers bad input in words, so it loads the English ones (the browser never shows zod's messages).
z.config(z.locales.en());

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
  /** where the lesson files are; default lessons/ at the package root */
  lessonsDir?: string;
  /** tests lower the caps (defaults: conn-limits.ts, event-stream.ts) */
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  unauthenticatedRate?: Rate;
  eventStreams?: EventStreamLimits;
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
  // --sandbox: every view and session is the token holder's sandbox's (server/sandbox/), never the host's.
  const sandboxes = config.sandbox ? createSandboxManager(config.sandbox, log) : null;
  const views = sandboxes ? scopedEngine(engine, () => sandboxes.get(TOKEN_OWNER)) : engine;
  const launch = sandboxes ? createSandboxLauncher({ shell: config.shell, manager: sandboxes, scoped: views, owner: TOKEN_OWNER }) : createLauncher({ shell: config.shell, engine, containers });
  const registry = createTerminalRegistry({ config, log, launch });
  const lessons = new LessonService({ dir: opts.lessonsDir ?? defaultLessonsDir(), engine: views, registry, log });
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
    namespaceRoutes: namespaceRoutes(views),
    sessionRoutes: sessionRoutes(registry),
    sandboxRoutes: sandboxes ? sandboxRoutes(sandboxes, () => TOKEN_OWNER) : sandboxOffRoutes(),
    lessonRoutes: lessonRoutes(lessons),
    containerRoutes: containerRoutes(sandboxes ? null : containers),
  });
  // A valid owner token (Bearer, handshake) or share token (handshake, `?view=`): such callers skip the
  // unauthenticated rate. The URL base is a placeholder: only the query is read.
  const authenticated = (req: http.IncomingMessage): boolean => {
    if (auth.caller(req)) return true;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return false; // not a URL: certainly no share token in it (the app or upgrade guard answers 404)
    }
    const view = viewToken(req, url);
    return view !== null && auth.viewerSession(view) !== undefined;
  };
  const server = http.createServer(SERVER_TIMEOUT_OPTIONS, (req, res) => {
    if (limits.admitRequest(req, res)) app(req, res);
  });
  server.keepAliveTimeout = SERVER_TIMEOUT_OPTIONS.keepAliveTimeout;
  const limits = installConnectionLimits(server, { authenticated, maxConnections: opts.maxConnections, maxPerIp: opts.maxConnectionsPerIp, unauthenticatedRate: opts.unauthenticatedRate });
  const eventStreams = createEventStreams(views, log, opts.eventStreams, lessons);
  const upgrades = createUpgradeHandler({
    auth,
    log,
    ...terminalUpgrades(registry, log),
    onEvents: (ws, req) => eventStreams.attach(ws, req),
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (limits.admitUpgrade(req, socket)) upgrades.handle(req, socket, head);
  });
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
      await lessons.dispose(); // after the shells have ended: unmounts and deletes what the lessons made
      await sandboxes?.dispose();
      engine.dispose();
    })());

  return { port, url: `http://${hostForUrl}:${port}/?token=${encodeURIComponent(config.token)}`, close };
}
