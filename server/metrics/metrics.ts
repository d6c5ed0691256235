// `GET /metrics` in Prometheus text format (prom-client), admins only. The parts that count things get plain
// callbacks (pty bytes, scan time, event → push latency): none of them imports the metrics library.
import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Auth } from '../http/auth.js';
import { AppError } from '../errors.js';
import type { WatchHooks } from '../namespaces/watch.js';

/** A scan takes milliseconds on a quiet box and seconds with thousands of processes under load. */
const SCAN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Kernel event → push: milliseconds when idle; paced re-reads (watch-timing.ts) stretch it to seconds. */
const PUSH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricSources {
  sessions(): number;
  /** clients attached to all sessions (writers and viewers) */
  clients(): number;
}

export interface Metrics {
  readonly registry: Registry;
  ptyBytes(direction: 'in' | 'out', bytes: number): void;
  readonly watchHooks: WatchHooks;
  /** late binding: the terminal registry is made after the metrics it reports to */
  setSources(sources: MetricSources): void;
  handler(auth: Pick<Auth, 'caller' | 'authFailed'>): RequestHandler;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  let sources: MetricSources = { sessions: () => 0, clients: () => 0 };
  new Gauge({
    name: 'nsconsole_sessions',
    help: 'terminal sessions open now',
    registers: [registry],
    collect() {
      this.set(sources.sessions());
    },
  });
  new Gauge({
    name: 'nsconsole_clients',
    help: 'terminal clients (writers and read-only viewers) attached now',
    registers: [registry],
    collect() {
      this.set(sources.clients());
    },
  });
  const bytes = new Counter({
    name: 'nsconsole_pty_bytes_total',
    help: 'bytes through terminal ptys: out = from the shell, in = typed into it',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  bytes.inc({ direction: 'in' }, 0);
  bytes.inc({ direction: 'out' }, 0);
  const scans = new Histogram({
    name: 'nsconsole_namespace_scan_seconds',
    help: 'time to scan the namespace list',
    buckets: SCAN_BUCKETS,
    registers: [registry],
  });
  const pushes = new Histogram({
    name: 'nsconsole_event_push_latency_seconds',
    help: 'from a kernel event (mount notification, process event) to the change pushed to subscribers',
    labelNames: ['source'] as const,
    buckets: PUSH_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    ptyBytes: (direction, n) => bytes.inc({ direction }, n),
    watchHooks: {
      scanned: (s) => scans.observe(s),
      pushed: (source, s) => pushes.observe({ source }, s),
    },
    setSources(s) {
      sources = s;
    },
    handler(auth) {
      return (req, res, next) => {
        const caller = auth.caller(req);
        if (!caller) {
          auth.authFailed(req);
          return next(new AppError('UNAUTHORIZED', 'metrics need the token or an admin user'));
        }
        if (caller.role !== 'owner' || !caller.admin)
          return next(new AppError('FORBIDDEN', 'metrics are for admins (--admin USER, or the token)'));
        registry.metrics().then(
          (text) => {
            res.setHeader('Cache-Control', 'no-store');
            res.type(registry.contentType).send(text);
          },
          (err: unknown) => next(err),
        );
      };
    },
  };
}
