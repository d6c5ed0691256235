// The composition root: builds every part from a Config, listens, and owns the teardown order.
import http from 'node:http';
import https from 'node:https';
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
import { createSandboxManager } from './sandbox/manager.js';
import { sandboxOffRoutes, sandboxRoutes } from './sandbox/routes.js';
import { createOwnerViews, ownerOfCaller } from './sandbox/owners.js';
import { createUpgradeHandler, viewToken } from './ws/upgrade.js';
import { startHeartbeat } from './ws/heartbeat.js';
import { createEventStreams, type EventStreamLimits } from './ws/event-stream.js';
import { installConnectionLimits, SERVER_TIMEOUT_OPTIONS } from './http/conn-limits.js';
import type { Rate } from './limits/token-bucket.js';
import { terminalUpgrades } from './ws/terminal-stream.js';
import { loadTls, reachableHost, urlHost } from './http/tls.js';
import { ConfigError, DEFAULT_TRUSTED_PROXIES } from './config/config.js';
import { NO_AUDIT, openAudit, type Audit } from './audit/audit.js';
import { auditNamespaceRoutes } from './audit/namespace-audit.js';
import { createOwnership } from './identity/ownership.js';
import { identityRoutes } from './identity/routes.js';
import { plainAddress } from './identity/identity.js';
import { createMetrics } from './metrics/metrics.js';
import { defaultLessonsDir, LessonService } from './lessons/service.js';
import { lessonRoutes } from './lessons/routes.js';
import * as z from 'zod/mini';

// The shared schemas are built with zod/mini, which loads no messages (every issue reads "Invalid input"); the
// server answers bad input in words, so it loads the English ones (the browser never shows zod's messages).
z.config(z.locales.en());

export interface RunningServer {
  port: number;
  /** `http(s)://HOST:PORT/?token=TOKEN`, HOST reachable (never a wildcard address) */
  url: string;
  /** SIGHUP: re-read the TLS certificate and key (new connections get them), reopen the audit log */
  reload(): void;
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
  // First, before anything starts: an unreadable certificate is a start-up error naming the file.
  const tlsFiles =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? { cert: config.tlsCert, key: config.tlsKey }
      : undefined;
  const tlsOptions = tlsFiles ? loadTls(tlsFiles) : undefined;
  const shownHost = reachableHost(config.host);
  const audit = openAuditOrExplain(config.auditLog, log);
  const metrics = createMetrics();
  const containers = new ContainerTracker({ dockerSocket: config.dockerSocket ?? '/var/run/docker.sock', log });
  const engine = createNamespaceEngine({
    nsDir: config.nsDir,
    log,
    kernelEvents: config.watch === 'events',
    annotate: (snap) => containers.annotate(snap),
    watchHooks: metrics.watchHooks,
  });
  containers.attach(
    () => engine.list('mnt'),
    () => engine.refreshSoon?.(),
  );
  // --sandbox: every view and session is its caller's sandbox's (server/sandbox/owners.ts), never the host's.
  const sandboxes = config.sandbox ? createSandboxManager(config.sandbox, log) : null;
  const ownerViews = sandboxes ? createOwnerViews(engine, sandboxes, log) : null;
  const launch =
    sandboxes && ownerViews
      ? createSandboxLauncher({ shell: config.shell, manager: sandboxes, scopedFor: ownerViews.viewsFor })
      : createLauncher({ shell: config.shell, engine, containers });
  const ownership = createOwnership((id) => registry.get(id) !== undefined);
  const registry = createTerminalRegistry({
    config,
    log,
    launch,
    onPtyBytes: metrics.ptyBytes,
    // Ends nobody asked for over the API: recorded under the session's owner, from no address.
    onEnded: (id, reason, exited) =>
      audit.record({ user: ownership.ownerOf(id), ip: '', action: 'session.end', session: id, reason, exit: exited }),
  });
  metrics.setSources({
    sessions: () => registry.list().length,
    clients: () => registry.list().reduce((n, s) => n + s.clients, 0),
  });
  // Lessons: on a host one run per lesson for every caller; with --sandbox each user's own, in their sandbox.
  const lessons = new LessonService({
    dir: opts.lessonsDir ?? defaultLessonsDir(),
    engine,
    registry,
    log,
    ...(sandboxes && ownerViews
      ? {
          sandboxes: {
            manager: sandboxes,
            engineFor: ownerViews.viewsFor,
            sessionOwner: (id: string) => ownership.ownerOf(id),
          },
        }
      : {}),
  });
  let port = config.port;
  // auth is built below; requests only arrive after listen
  const ownerOf = (req: http.IncomingMessage): string => ownerOfCaller(auth.caller(req), (id) => ownership.ownerOf(id));
  const views = ownerViews ? (req: http.IncomingMessage) => ownerViews.viewsFor(ownerOf(req)) : engine;
  const auth = createAuth({
    token: config.token,
    sessionIdForViewerToken: (t) => registry.sessionIdForViewerToken(t),
    // the address the printed URL names is one a browser will send as Host
    allowHosts: shownHost === config.host ? config.allowHosts : [...config.allowHosts, urlHost(shownHost)],
    host: config.host,
    secure: tlsOptions !== undefined,
    identity: {
      authHeader: config.authHeader,
      trustedProxies: config.trustedProxies ?? DEFAULT_TRUSTED_PROXIES,
      admins: config.admins ?? [],
      proxySecret: config.proxySecret,
    },
    audit,
    port: () => port,
  });
  const app = createApp({
    log,
    auth,
    version: packageVersion(),
    webRoot: opts.webRoot ?? defaultWebRoot(),
    namespaceRoutes: auditNamespaceRoutes(namespaceRoutes(views), auth, audit),
    sessionRoutes: sessionRoutes(registry, { auth, ownership, audit }),
    apiRoutes: identityRoutes(auth, sandboxes !== null),
    metrics: metrics.handler(auth),
    sandboxRoutes: sandboxes ? sandboxRoutes(sandboxes, ownerOf) : sandboxOffRoutes(),
    lessonRoutes: lessonRoutes(lessons, ownerOf),
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
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (limits.admitRequest(req, res)) app(req, res);
  };
  const tlsServer = tlsOptions ? https.createServer({ ...SERVER_TIMEOUT_OPTIONS, ...tlsOptions }, handler) : undefined;
  // https.Server has every member of http.Server that the limits and teardown use.
  const server: http.Server = tlsServer
    ? (tlsServer as unknown as http.Server)
    : http.createServer(SERVER_TIMEOUT_OPTIONS, handler);
  server.keepAliveTimeout = SERVER_TIMEOUT_OPTIONS.keepAliveTimeout;
  const limits = installConnectionLimits(server, {
    authenticated,
    maxConnections: opts.maxConnections,
    maxPerIp: opts.maxConnectionsPerIp,
    unauthenticatedRate: opts.unauthenticatedRate,
  });
  const eventStreams = createEventStreams(views, log, opts.eventStreams, (req) => {
    const owner = ownerOf(req);
    return (id, panes, viewer) => lessons.follow(owner, id, panes, viewer);
  });
  const terminals = terminalUpgrades(registry, log);
  const upgrades = createUpgradeHandler({
    auth,
    log,
    ...terminals,
    // Another user's session does not exist for this caller; an admin's view of it is read-only.
    sessionExists: (id, caller) => registry.get(id) !== undefined && ownership.access(caller, id) !== 'none',
    onTerminal: (ws, id, caller) =>
      terminals.onTerminal(
        ws,
        id,
        ownership.access(caller, id) === 'write' ? caller : { role: 'viewer', sessionId: id },
      ),
    beforeTerminal: (req, id, caller) => {
      const ip = plainAddress(req.socket.remoteAddress);
      if (caller.role === 'viewer') audit.record({ user: null, ip, action: 'share.open', session: id });
      else
        audit.record({
          user: caller.user,
          ip,
          action: 'session.attach',
          session: id,
          owner: ownership.ownerOf(id),
          readOnly: ownership.access(caller, id) !== 'write',
        });
    },
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

  const reload = (): void => {
    audit.reopen();
    if (tlsServer && tlsFiles) {
      try {
        tlsServer.setSecureContext(loadTls(tlsFiles));
        log.info({ cert: tlsFiles.cert }, 'TLS certificate reloaded');
      } catch (err) {
        // Kept serving with the previous certificate: a half-written renewal must not take the server down.
        log.error({ err }, 'TLS certificate reload failed; still serving the previous one');
      }
    }
  };

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
      containers.dispose();
      engine.dispose();
      audit.close();
    })());

  const scheme = tlsOptions ? 'https' : 'http';
  return {
    port,
    url: `${scheme}://${urlHost(shownHost)}:${port}/?token=${encodeURIComponent(config.token)}`,
    reload,
    close,
  };
}

/** The audit file opened now (a start-up error naming it when it cannot be), or no audit without --audit-log. */
function openAuditOrExplain(file: string | undefined, log: Logger): Audit {
  if (file === undefined) return NO_AUDIT;
  try {
    return openAudit(file, log);
  } catch (e) {
    throw new ConfigError(
      `--audit-log ${file}: cannot open it for appending (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}
