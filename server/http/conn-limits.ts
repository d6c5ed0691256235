// Limits on connections and on unauthenticated traffic, applied before a request reaches the app or an upgrade
// reaches the WebSocket guards. Without them, idle TCP connections from anyone who can reach the port (no token
// needed) exhaust the process's file descriptors: the review held 20,250 and got EMFILE on /proc scans.
//
// - Every connection counts against a cap for the server and one for its remote address. When a cap is reached,
//   the oldest connection that has not authenticated is closed to make room (an attacker's idle sockets go
//   first, and churning through them only evicts its own); if every connection has authenticated, the new one is
//   refused. A connection becomes trusted once a request (or upgrade) on it carried a valid token.
// - Requests and upgrades without a valid credential take a token from their address's bucket; an empty bucket
//   answers 429 RATE_LIMITED without reaching the app (so without the auth middleware or any route's work).
//   Authenticated callers never wait on it: on loopback every local user shares one address.
// - Node's timeouts end connections that send nothing, or headers too slowly (slowloris), or keep idling.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TokenBucket, type Rate } from '../limits/token-bucket.js';
import { errorBody } from '../errors.js';

/**
 * Connections at once. A browser uses ≤ 6 HTTP connections per origin plus one WebSocket per pane and one event
 * stream per tab; 1024 serves dozens of users with room to spare, and stays far below the fd limit.
 */
export const MAX_CONNECTIONS = 1024;
/**
 * File descriptors kept free for everything but connections: each session's pty (and its process group
 * checks), /proc and nsfs reads, mount-table helpers and fanotify groups. With a low `ulimit -n`, the connection
 * cap shrinks to leave this much, so a connection flood can never make the server hit EMFILE.
 */
export const FD_HEADROOM = 1024;
/** The cap never goes below this, however low the fd limit (a server with fewer fds fails anyway). */
const MIN_CONNECTIONS = 64;
/** Connections per remote address: a quarter of the server's, so one address cannot take every slot. */
export const MAX_CONNECTIONS_PER_IP = 256;
/** Unauthenticated requests and upgrades per address: a page load is ~10 (index, assets, health, a share link). */
export const UNAUTHENTICATED_RATE: Rate = { burst: 200, perSecond: 50 };
/** Time to send a request's headers, from connect (or from the previous response): ends idle and slowloris sockets. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Time for a whole request: bodies are tiny (≤ 16 KB of JSON). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** How long a kept-alive connection may idle between requests (Node's default, stated). */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How often Node checks the two timeouts above (its default, 30 s, would let an idle socket live 40 s). */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;
/** Per-address buckets are forgotten once full; they are swept when this many have piled up. */
const BUCKETS_SWEEP_AT = 10_000;

/** The options for http.createServer that carry the timeouts. */
export const SERVER_TIMEOUT_OPTIONS = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
};

/** MAX_CONNECTIONS, lowered to leave FD_HEADROOM below the process's soft limit on open files. */
export function connectionCap(limitsText = readLimits()): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limitsText);
  if (!m || m[1] === 'unlimited') return MAX_CONNECTIONS;
  return Math.max(MIN_CONNECTIONS, Math.min(MAX_CONNECTIONS, Number(m[1]) - FD_HEADROOM));
}

function readLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return ''; // no /proc: keep the fixed cap
  }
}

export interface ConnectionLimitsOptions {
  maxConnections?: number;
  maxPerIp?: number;
  unauthenticatedRate?: Rate;
  /** true when the request carries a valid owner or viewer credential */
  authenticated(req: IncomingMessage): boolean;
}

export interface ConnectionLimits {
  /** the cap in force */
  readonly maxConnections: number;
  /** false when it has answered the request itself (429) */
  admitRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** false when it has answered the upgrade itself (429) */
  admitUpgrade(req: IncomingMessage, socket: Duplex): boolean;
  /** open connections (for tests and logs) */
  readonly connections: number;
}

export function installConnectionLimits(server: Server, opts: ConnectionLimitsOptions): ConnectionLimits {
  const maxConnections = opts.maxConnections ?? connectionCap();
  const maxPerIp = Math.min(opts.maxPerIp ?? MAX_CONNECTIONS_PER_IP, maxConnections);
  const rate = opts.unauthenticatedRate ?? UNAUTHENTICATED_RATE;
  const all = new Set<Socket>();
  /** not yet authenticated, oldest first: the first to go when a cap is reached */
  const untrusted = new Set<Socket>();
  const byIp = new Map<string, Set<Socket>>();
  const buckets = new Map<string, TokenBucket>();
  // Node's own cap is a backstop: ours below evicts or refuses first, so this is never reached in practice.
  server.maxConnections = maxConnections + 1;

  const oldestUntrusted = (among: Iterable<Socket>): Socket | undefined => {
    for (const s of among) if (untrusted.has(s)) return s;
    return undefined;
  };
  const evict = (socket: Socket): void => {
    forget(socket);
    socket.destroy();
  };
  const forget = (socket: Socket): void => {
    if (!all.delete(socket)) return;
    untrusted.delete(socket);
    const ip = socket.remoteAddress ?? '';
    const set = byIp.get(ip);
    set?.delete(socket);
    if (set?.size === 0) byIp.delete(ip);
  };

  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    const fromIp = byIp.get(ip);
    if (fromIp && fromIp.size >= maxPerIp) {
      const victim = oldestUntrusted(fromIp);
      if (!victim) return void socket.destroy();
      evict(victim);
    }
    if (all.size >= maxConnections) {
      const victim = untrusted.values().next().value;
      if (!victim) return void socket.destroy();
      evict(victim);
    }
    all.add(socket);
    untrusted.add(socket);
    let set = byIp.get(ip);
    if (!set) byIp.set(ip, (set = new Set()));
    set.add(socket);
    socket.once('close', () => forget(socket));
  });

  const bucketFor = (ip: string): TokenBucket => {
    let bucket = buckets.get(ip);
    if (!bucket) {
      if (buckets.size >= BUCKETS_SWEEP_AT) for (const [k, b] of buckets) if (b.isFull()) buckets.delete(k);
      buckets.set(ip, (bucket = new TokenBucket(rate)));
    }
    return bucket;
  };

  /** Trusts an authenticated connection; charges an unauthenticated one. false: over the rate. */
  const admit = (req: IncomingMessage): boolean => {
    const socket = req.socket;
    if (!untrusted.has(socket) && all.has(socket)) return true; // authenticated earlier on this connection
    if (opts.authenticated(req)) {
      untrusted.delete(socket);
      return true;
    }
    return bucketFor(socket.remoteAddress ?? '').take();
  };

  return {
    maxConnections,
    admitRequest(req, res) {
      if (admit(req)) return true;
      const body = JSON.stringify(
        errorBody('RATE_LIMITED', 'too many requests without a valid token from this address; try again in a moment'),
      );
      res.writeHead(429, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'retry-after': '1',
        connection: 'close',
      });
      res.end(body);
      return false;
    },
    admitUpgrade(req, socket) {
      if (admit(req)) return true;
      const body = JSON.stringify(
        errorBody('RATE_LIMITED', 'too many upgrades without a valid token from this address'),
      );
      socket.on('error', () => {
        // Swallow: the peer went away before reading the refusal; nothing more to say.
      });
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${body}`,
      );
      return false;
    },
    get connections() {
      return all.size;
    },
  };
}
