// Issue #16 item 6: connections and unauthenticated traffic are bounded before anything else runs. On main,
// idle TCP connections (no token needed) were all kept — 20,250 exhausted the fd limit and /api/health was
// refused. The server runs as its own process so that its open fds can be counted in /proc.
import http from 'node:http';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { Config } from '../../server/config/config.js';
import { createLogger } from '../../server/log.js';
import { startNsconsole } from '../../server/nsconsole.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CONNECTIONS_CHECKING_INTERVAL_MS,
  HEADERS_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_CONNECTIONS_PER_IP,
} from '../../server/http/conn-limits.js';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { waitUntil } from '../helpers/proc.js';

const IDLE_SOCKETS = 1500;
/** fds the server may open besides the capped connections (logs, /proc reads, a session's pty) */
const FD_MARGIN = 64;

let srv: ServerProcess;
let log = '';
const savedLevel = process.env.NSCONSOLE_LOG_LEVEL;
beforeAll(async () => {
  process.env.NSCONSOLE_LOG_LEVEL = 'warn'; // errors such as EMFILE must reach stderr, where we look for them
  try {
    srv = await spawnServer();
  } finally {
    if (savedLevel === undefined) delete process.env.NSCONSOLE_LOG_LEVEL;
    else process.env.NSCONSOLE_LOG_LEVEL = savedLevel;
  }
  srv.child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
});
afterAll(async () => {
  await srv?.stop();
});
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

const serverFds = () => readdirSync(`/proc/${srv.child.pid}/fd`).length;
/**
 * The server's TCP connections on its port (not its listener): what the caps bound and what it must release.
 * Counted from its socket fds and its network namespace's TCP tables, so that an fd the server opens meanwhile
 * for something else (a worker thread's event loop, a container runtime's socket) is not taken for a connection.
 */
function serverConnections(): number {
  return serverConnectionRows().length;
}
/** The table rows of those connections: `local remote state tx:rx …` (what a timeout reports). */
function serverConnectionRows(): string[] {
  const pid = srv.child.pid as number;
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      // Swallow: closed while listed
    }
  }
  const port = Number(srv.url.port).toString(16).toUpperCase().padStart(4, '0');
  const rows: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; st 0A is LISTEN
      if (f.length > 9 && f[1]?.endsWith(`:${port}`) && f[3] !== '0A' && inodes.has(f[9] as string))
        rows.push(f.slice(1, 5).join(' '));
    }
  }
  return rows;
}
/**
 * Waits until the server holds at most `most` connections; a timeout says how many were left and in which TCP
 * state. The wait covers the server's headers timeout (and one check interval after it): an idle connection
 * whose close the server has not seen yet (one a loaded machine had not even accepted when its client went) is
 * still released by that timeout, and only a connection the server keeps beyond it is a leak. Once in ~10 full
 * CI runs one connection outlived a 10 s wait; the server's own release was never this test's claim to time.
 */
async function connectionsAtMost(most: number, what: string): Promise<void> {
  try {
    await waitUntil(
      () => serverConnections() <= most,
      what,
      HEADERS_TIMEOUT_MS + 2 * CONNECTIONS_CHECKING_INTERVAL_MS + 3000,
    );
  } catch (err) {
    const rows = serverConnectionRows();
    throw new Error(
      `${(err as Error).message}: ${rows.length} connections, at most ${most} expected (local remote state tx:rx: ${rows.slice(0, 5).join('; ')})`,
    );
  }
}

/** The fd count once the previous test's connections are gone (the server may take a moment to see them close). */
async function settledFds(): Promise<number> {
  await connectionsAtMost(0, 'the server to release earlier connections');
  return serverFds();
}

/** One request on a fresh connection (no pooling): what a new visitor would get. */
function freshGet(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${srv.base}${path}`, { agent: false, headers }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

function openIdle(count: number, localAddress?: string): Promise<void> {
  let connected = 0;
  return new Promise((resolve) => {
    for (let i = 0; i < count; i++) {
      const s = net.connect({
        port: Number(srv.url.port),
        host: '127.0.0.1',
        ...(localAddress ? { localAddress } : {}),
      });
      s.on('error', () => {
        // Expected: the server closes the oldest idle sockets (or refuses new ones) once the caps are reached.
      });
      s.once('connect', () => {
        if (++connected === count) resolve();
      });
      s.once('close', () => {
        if (!s.connecting) return;
        if (++connected === count) resolve(); // refused before connecting: counts as done
      });
      sockets.push(s);
    }
  });
}

describe('connection limits', () => {
  it(`${IDLE_SOCKETS} idle connections from one address: capped per address, /api/health still answers, no EMFILE, all released`, async () => {
    const before = await settledFds();
    await openIdle(IDLE_SOCKETS);
    // Connections are accepted in order: once a newer one is answered, the server has taken (and capped) them all.
    expect(await freshGet('/api/health')).toBe(200);
    // It keeps at most its per-address cap of them (the oldest are closed to make room).
    if (process.env.WS_BOUNDS_FIGURES)
      console.log(`one address: server fds ${before} idle → ${serverFds()} with ${IDLE_SOCKETS} idle sockets`);
    expect(serverFds()).toBeLessThanOrEqual(before + MAX_CONNECTIONS_PER_IP + FD_MARGIN);
    const held = serverConnections();
    expect(held).toBeGreaterThan(MAX_CONNECTIONS_PER_IP / 2); // it did take them, up to its cap
    expect(held).toBeLessThanOrEqual(MAX_CONNECTIONS_PER_IP + 1);
    expect(await freshGet('/api/sessions', { authorization: `Bearer ${srv.token}` })).toBe(200);
    expect(serverFds()).toBeLessThanOrEqual(before + MAX_CONNECTIONS_PER_IP + FD_MARGIN);
    for (const s of sockets.splice(0)) s.destroy();
    await connectionsAtMost(0, 'the server to close them all');
    expect(serverFds()).toBeLessThanOrEqual(before + FD_MARGIN); // and nothing else piled up meanwhile
    expect(log).not.toMatch(/EMFILE|ENFILE/);
  }, 60_000); // two waits of up to the headers timeout (see connectionsAtMost)

  it(`${IDLE_SOCKETS} idle connections from six addresses, each under its own cap: the server-wide cap holds`, async () => {
    const before = await settledFds();
    const addresses = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15', '127.0.0.16'];
    for (const a of addresses) await openIdle(IDLE_SOCKETS / addresses.length, a);
    expect(await freshGet('/api/health')).toBe(200); // accepted after all of them (see above)
    if (process.env.WS_BOUNDS_FIGURES)
      console.log(`six addresses: server fds ${before} idle → ${serverFds()} with ${IDLE_SOCKETS} idle sockets`);
    expect(serverFds()).toBeLessThanOrEqual(before + MAX_CONNECTIONS + FD_MARGIN);
    for (const s of sockets.splice(0)) s.destroy();
    await connectionsAtMost(0, 'the server to close them all');
    expect(serverFds()).toBeLessThanOrEqual(before + FD_MARGIN); // and nothing else piled up meanwhile
    expect(log).not.toMatch(/EMFILE|ENFILE/);
  }, 60_000); // two waits of up to the headers timeout (see connectionsAtMost)

  it('an authenticated connection is never the one evicted', async () => {
    // A kept-alive connection that carried the token, then the flood: it must still serve its next request.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = () =>
        new Promise<number>((resolve, reject) => {
          http
            .get(`${srv.base}/api/sessions`, { agent, headers: { authorization: `Bearer ${srv.token}` } }, (res) => {
              res.resume();
              res.once('end', () => resolve(res.statusCode ?? 0));
            })
            .once('error', reject);
        });
      expect(await get()).toBe(200);
      let reused = false;
      agent.once('free', () => (reused = true));
      await openIdle(MAX_CONNECTIONS_PER_IP + 100);
      expect(await get()).toBe(200);
      expect(reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('a connection that sends nothing is closed after the headers timeout', async () => {
    const s = net.connect({ port: Number(srv.url.port), host: '127.0.0.1' });
    sockets.push(s);
    s.on('error', () => {
      // a reset instead of a FIN is as good: the server let go of it
    });
    const opened = Date.now();
    s.resume();
    await new Promise((resolve) => s.once('close', resolve));
    // Node checks the timeout once a second; allow a loaded machine a few more.
    expect(Date.now() - opened).toBeLessThan(HEADERS_TIMEOUT_MS + 5000);
  });

  it('unauthenticated requests and upgrades beyond the per-address rate get 429 RATE_LIMITED; the token holder does not', async () => {
    // An in-process server whose bucket does not refill during the test, so that the outcome does not depend on
    // how fast this machine answers: BURST requests without a token get 401, the next ones 429.
    const BURST = 20;
    const dir = await mkdtemp(path.join(tmpdir(), 'nsconsole-rate-'));
    const token = randomBytes(24).toString('base64url');
    const config: Config = {
      host: '127.0.0.1',
      port: 0,
      token,
      nsDir: path.join(dir, 'ns'),
      shell: '/bin/sh',
      allowHosts: [],
      sessionGraceMs: 1000,
      maxSessions: 4,
      maxClientsPerSession: 4,
      scrollback: 100,
      watch: 'poll',
    };
    const running = await startNsconsole(config, createLogger('silent'), {
      webRoot: '/nonexistent',
      unauthenticatedRate: { burst: BURST, perSecond: 0.01 },
    });
    try {
      // From an address of our own (all of 127/8 is loopback).
      const localAddress = '127.0.0.3';
      const base = `http://127.0.0.1:${running.port}`;
      const get = (headers: Record<string, string> = {}) =>
        new Promise<number>((resolve, reject) => {
          http
            .get(`${base}/api/namespaces`, { agent: false, localAddress, headers }, (res) => {
              res.resume();
              res.once('end', () => resolve(res.statusCode ?? 0));
            })
            .once('error', reject);
        });
      const statuses: number[] = [];
      for (let i = 0; i < BURST + 5; i++) statuses.push(await get());
      expect(statuses.slice(0, BURST).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(BURST).every((s) => s === 429)).toBe(true);
      // The bucket is empty, yet the token holder from the same address is served…
      expect(await get({ authorization: `Bearer ${token}` })).toBe(200);
      // …while an upgrade without a token is refused before any guard runs.
      const ws = new WebSocket(`ws://127.0.0.1:${running.port}/ws/events`, { localAddress });
      const status = await new Promise<number>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
        ws.once('error', () => resolve(0));
      });
      ws.terminate();
      expect(status).toBe(429);
      // Other addresses have their own bucket.
      expect(await freshGet('/api/health')).toBe(200);
    } finally {
      await running.close();
      spawnSync('umount', ['--recursive', '--lazy', config.nsDir], { stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
