// 10,000 malformed or hostile frames and requests against the real server: every answer is a clear error, the
// server stays alive and its memory stays bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
/** heap in use after a full collection: what the process really keeps */
function liveHeap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.close();
});

const NASTY_STRINGS = [
  '../../../../etc/passwd',
  '..%2f..%2fetc%2fshadow',
  '$(reboot)',
  '`id`',
  '; rm -rf / #',
  '|| touch /tmp/pwned',
  'mnt:1 && id',
  '\u0000\u0001\u0002',
  'x'.repeat(5000),
  '%00',
  '<script>alert(1)</script>',
  '{"__proto__":{"polluted":true}}',
];

/** Request bodies and routes that must each be refused with a JSON error. */
function hostileRequest(i: number): { method: string; path: string; body?: string } {
  const s = NASTY_STRINGS[i % NASTY_STRINGS.length] as string;
  const enc = encodeURIComponent(s);
  switch (i % 8) {
    case 0:
      return { method: 'GET', path: `/api/namespaces/${enc}/mounts` };
    case 1:
      return { method: 'GET', path: `/api/namespaces/mnt:${i}/diff/${enc}` };
    case 2:
      return { method: 'POST', path: '/api/namespaces', body: JSON.stringify({ type: 'mnt', name: s }) };
    case 3:
      return { method: 'DELETE', path: `/api/namespaces/${enc}` };
    case 4:
      return {
        method: 'POST',
        path: '/api/sessions',
        body: JSON.stringify({ target: { kind: 'namespace', id: s }, cols: 80, rows: 24 }),
      };
    case 5:
      return {
        method: 'POST',
        path: '/api/sessions',
        body: JSON.stringify({ target: { kind: 'process', pid: s }, cols: -1, rows: 1e9 }),
      };
    case 6:
      return { method: 'GET', path: `/api/sessions/${enc}` };
    default:
      return { method: 'POST', path: '/api/sessions', body: s.slice(0, 200) };
  }
}

/** Control frames that must each get an error message back while the socket stays open. */
function hostileFrame(i: number): string {
  const s = NASTY_STRINGS[i % NASTY_STRINGS.length] as string;
  switch (i % 6) {
    case 0:
      return s.slice(0, 300); // not JSON
    case 1:
      return JSON.stringify({ type: 'resize', cols: 1e9, rows: -5 });
    case 2:
      return JSON.stringify({ type: 'resize', cols: '80', rows: 24 });
    case 3:
      return JSON.stringify({ type: 'ack', bytes: -1 });
    case 4:
      return JSON.stringify({ type: s });
    default:
      return JSON.stringify({ type: 'ack', bytes: 1, extra: s });
  }
}

describe('hostile input', () => {
  it('answers 5,000 hostile requests with 4xx JSON errors and keeps serving', async () => {
    const statuses = new Map<number, number>();
    let before = 0;
    for (let batch = 0; batch < 100; batch++) {
      if (batch === 20) before = liveHeap(); // after warm-up: JIT, connection pools, lazily built schemas
      await Promise.all(
        Array.from({ length: 50 }, async (_, k) => {
          const req = hostileRequest(batch * 50 + k);
          const res = await srv.api(req.path, {
            method: req.method,
            ...(req.body !== undefined ? { body: req.body } : {}),
          });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
          expect(res.status, `${req.method} ${req.path}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `${req.method} ${req.path}`).toBeLessThan(500);
          expect(typeof body.error?.code).toBe('string');
          expect(typeof body.error?.message).toBe('string');
        }),
      );
    }
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(5000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await srv.api('/api/health')).status).toBe(200);
    // Nothing of what was refused may be kept: the live heap after 4,000 more requests is about what it was.
    expect(liveHeap() - before).toBeLessThan(8 * 2 ** 20);
  });

  it('answers 5,000 hostile control frames with error messages on a socket that stays open', async () => {
    const created = await srv.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const ws = srv.ws(`/ws/sessions/${id}`);
    try {
      let errors = 0;
      let output = '';
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) output += data.toString('utf8');
        else if ((JSON.parse(data.toString('utf8')) as { type: string }).type === 'error') errors++;
      });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      for (let i = 0; i < 5000; i++) ws.send(hostileFrame(i));
      await expect.poll(() => errors, { timeout: 20_000 }).toBe(5000);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      // …and the session still works.
      ws.send(Buffer.from('echo still-$((20+1))\r'));
      await expect.poll(() => output.includes('still-21'), { timeout: 10_000 }).toBe(true);
    } finally {
      ws.terminate();
      await srv.api(`/api/sessions/${id}`, { method: 'DELETE' });
    }
  });
});
