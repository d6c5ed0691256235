// Issue #15 item 2: a client that stops reading must not grow the root server's memory, whatever it sends. The
// server runs as its own process (spawnServer) so that its RSS can be read from /proc; the attacking sockets are
// ws clients whose TCP socket is paused (they never read again), exactly as the review's attacks.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE } from '../../shared/protocol.js';
import { spawnServer, type ServerProcess } from '../helpers/process.js';

/** What the attacks may add to the server's RSS: generous (the bound per socket is 8 MB), far below main's growth (+180 MB in 15 s, 1.1 GB in 10 s). */
const RSS_BOUND_KB = 100 * 1024;
/** The offending socket must be dropped within this time (it is dropped within milliseconds; margin for load). */
const CLOSE_WITHIN_MS = 15_000;

let srv: ServerProcess;
beforeAll(async () => {
  srv = await spawnServer();
});
afterAll(async () => {
  await srv?.stop();
});
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Polls a condition (sync or async) every 50 ms until it holds; throws after `timeoutMs`. */
async function waitUntil(pred: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Samples the server's RSS until stopped; `peak` is the highest seen. */
function rssSampler(pid: number): { stop(): number } {
  let peak = rssKb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssKb(pid));
    },
  };
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(srv.base + path, {
    ...init,
    headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
  });

async function createSession(): Promise<string> {
  const res = await api('/api/sessions', {
    method: 'POST',
    body: JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 }),
  });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  cleanups.push(async () => void (await api(`/api/sessions/${id}`, { method: 'DELETE' })));
  return id;
}

async function clientsOf(id: string): Promise<number> {
  return ((await (await api(`/api/sessions/${id}`)).json()) as { clients: number }).clients;
}

/** The owner's terminal, read at full speed: acks every frame at once and keeps the last 8 KB of output. */
class Owner {
  readonly ws: WebSocket;
  tail = '';
  hello = false;
  constructor(id: string) {
    this.ws = new WebSocket(`ws://${srv.url.host}/ws/sessions/${id}`, {
      headers: { authorization: `Bearer ${srv.token}` },
    });
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) {
        if ((JSON.parse(data.toString()) as { type: string }).type === 'hello') this.hello = true;
        return;
      }
      this.tail = (this.tail + data.toString('latin1')).slice(-8192);
      this.ws.send(JSON.stringify({ type: 'ack', bytes: data.length }));
    });
    cleanups.push(() => this.ws.terminate());
  }
  async ready(): Promise<void> {
    await waitUntil(() => this.hello, 'the owner’s hello', 10_000);
  }
  type(s: string): void {
    this.ws.send(Buffer.from(s), { binary: true });
  }
  /** The session answers: a fresh computed marker appears in the output. */
  async works(): Promise<void> {
    const n = Math.floor(Math.random() * 1e6);
    this.type(`echo works-$((${n}+1))\r`);
    await waitUntil(() => this.tail.includes(`works-${n + 1}`), 'the owner’s shell to answer', 15_000);
  }
}

/**
 * A client that stops reading: its TCP socket is paused right after the upgrade, so whatever the server sends
 * piles up (in the kernel, then in the server). `close` resolves with the close code once it reads again.
 */
async function nonReader(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; resumeAndClosed(): Promise<number> }> {
  const ws = new WebSocket(url, { headers });
  cleanups.push(() => ws.terminate());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const socket = (ws as unknown as { _socket: Socket })._socket;
  socket.pause();
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return {
    ws,
    resumeAndClosed: async () => {
      socket.resume();
      return await Promise.race([
        closed,
        new Promise<number>((_, reject) =>
          setTimeout(() => reject(new Error('no close after resuming')), CLOSE_WITHIN_MS),
        ),
      ]);
    },
  };
}

async function viewerUrl(id: string): Promise<string> {
  const res = await api(`/api/sessions/${id}/share`, { method: 'POST' });
  expect(res.status).toBe(201);
  const { token } = (await res.json()) as { token: string };
  return `ws://${srv.url.host}/ws/sessions/${id}?view=${encodeURIComponent(token)}`;
}

/** Runs `step` every `everyMs` until `done()` or the deadline; resolves with the time it took, or throws. */
async function attackUntil(
  step: () => void,
  everyMs: number,
  done: () => Promise<boolean>,
  what: string,
): Promise<number> {
  const started = Date.now();
  let finished = false;
  const timer = setInterval(() => {
    if (!finished) step();
  }, everyMs);
  try {
    await waitUntil(done, what, CLOSE_WITHIN_MS);
    return Date.now() - started;
  } finally {
    finished = true;
    clearInterval(timer);
  }
}

describe('a client that stops reading cannot grow the server’s memory', () => {
  it('(a) a viewer sending 1-byte binary frames is closed with TOO_MANY_MESSAGES; RSS bounded; the owner keeps working', async () => {
    const id = await createSession();
    const owner = new Owner(id);
    await owner.ready();
    const viewer = await nonReader(await viewerUrl(id));
    await waitUntil(async () => (await clientsOf(id)) === 2, 'the viewer to attach', 10_000);
    const base = rssKb(srv.child.pid!);
    const rss = rssSampler(srv.child.pid!);
    const one = Buffer.from('x');
    // 2,000 frames each 10 ms: main answered every one with READ_ONLY and never closed the socket.
    const took = await attackUntil(
      () => {
        for (let i = 0; i < 2000 && viewer.ws.readyState === WebSocket.OPEN; i++) viewer.ws.send(one, { binary: true });
      },
      10,
      async () => (await clientsOf(id)) === 1,
      'the server to drop the viewer',
    );
    const peakKb = rss.stop() - base;
    if (process.env.WS_BOUNDS_FIGURES) console.log(`closed after ${took} ms, RSS +${peakKb} kB`);
    expect(took).toBeLessThan(CLOSE_WITHIN_MS);
    expect(peakKb).toBeLessThan(RSS_BOUND_KB);
    expect(await viewer.resumeAndClosed()).toBe(CLOSE.TOO_MANY_MESSAGES);
    await owner.works();
  });

  it('(b) a viewer acking 1 GiB every 50 ms while the owner’s shell floods is closed with BAD_ACK; RSS bounded', async () => {
    const id = await createSession();
    const owner = new Owner(id);
    await owner.ready();
    const viewer = await nonReader(await viewerUrl(id));
    await waitUntil(async () => (await clientsOf(id)) === 2, 'the viewer to attach', 10_000);
    const base = rssKb(srv.child.pid!);
    const rss = rssSampler(srv.child.pid!);
    owner.type('yes\r');
    await waitUntil(() => owner.tail.endsWith('y\r\n'), 'the flood to start', 10_000);
    const took = await attackUntil(
      () => viewer.ws.readyState === WebSocket.OPEN && viewer.ws.send('{"type":"ack","bytes":1073741824}'),
      50,
      async () => (await clientsOf(id)) === 1,
      'the server to drop the viewer',
    );
    const peakKb = rss.stop() - base;
    if (process.env.WS_BOUNDS_FIGURES) console.log(`closed after ${took} ms, RSS +${peakKb} kB`);
    expect(took).toBeLessThan(CLOSE_WITHIN_MS);
    expect(peakKb).toBeLessThan(RSS_BOUND_KB);
    expect(await viewer.resumeAndClosed()).toBe(CLOSE.BAD_ACK);
    owner.type('\x03');
    await owner.works();
  });

  it('(c) a writer that stops reading and sends refused control messages is closed with NOT_READING; RSS bounded', async () => {
    const id = await createSession();
    const owner = new Owner(id);
    await owner.ready();
    const writer = await nonReader(`ws://${srv.url.host}/ws/sessions/${id}`, { authorization: `Bearer ${srv.token}` });
    await waitUntil(async () => (await clientsOf(id)) === 2, 'the second writer to attach', 10_000);
    const base = rssKb(srv.child.pid!);
    const rss = rssSampler(srv.child.pid!);
    // Each is answered with a BAD_MESSAGE error naming its 1,000 unknown keys (~10 KB; a writer's mistakes are all
    // answered); nothing reads them, so once the kernel's buffers are full they queue in the server — until the
    // bound. (Tiny replies are bounded the same way, counting each frame's overhead, but take longer to get there.)
    const bad = JSON.stringify({
      type: 'resize',
      cols: 80,
      rows: 24,
      ...Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 0])),
    });
    const took = await attackUntil(
      () => {
        for (let i = 0; i < 20 && writer.ws.readyState === WebSocket.OPEN; i++) writer.ws.send(bad);
      },
      5,
      async () => (await clientsOf(id)) === 1,
      'the server to drop the writer that stopped reading',
    );
    const peakKb = rss.stop() - base;
    if (process.env.WS_BOUNDS_FIGURES) console.log(`closed after ${took} ms, RSS +${peakKb} kB`);
    expect(took).toBeLessThan(CLOSE_WITHIN_MS);
    expect(peakKb).toBeLessThan(RSS_BOUND_KB);
    expect(await writer.resumeAndClosed()).toBe(CLOSE.NOT_READING);
    await owner.works();
  });
});
