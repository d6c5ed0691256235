import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, upgradeStatus, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.close();
});

const PROTECTED: [string, string][] = [
  ['GET', '/api/namespaces'],
  ['GET', '/api/namespaces/mnt:1/mounts'],
  ['GET', '/api/namespaces/mnt:1/diff/mnt:2'],
  ['POST', '/api/namespaces'],
  ['DELETE', '/api/namespaces/mnt:1'],
  ['GET', '/api/sessions'],
  ['POST', '/api/sessions'],
  ['DELETE', '/api/sessions/abc'],
];

describe('health', () => {
  it('answers without a token', async () => {
    const res = await fetch(`${srv.base}/api/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, version: expect.any(String) });
  });

  it('sends strict security headers with a CSP that allows no inline script', async () => {
    const res = await fetch(`${srv.base}/api/health`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});

describe('token', () => {
  it.each(PROTECTED)('%s %s without a token → 401', async (method, path) => {
    const res = await fetch(srv.base + path, { method });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('UNAUTHORIZED');
  });

  it.each(PROTECTED)('%s %s with a wrong token → 401', async (method, path) => {
    const res = await fetch(srv.base + path, { method, headers: { authorization: 'Bearer wrong-token-wrong-token' } });
    expect(res.status).toBe(401);
  });

  it('accepts the Bearer token', async () => {
    const res = await srv.api('/api/sessions');
    expect(res.status).toBe(200);
  });

  it('keeps API answers (live state behind the token) out of every cache, refusals included', async () => {
    for (const res of [await srv.api('/api/namespaces'), await fetch(`${srv.base}/api/namespaces`)]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('etag')).toBeNull();
      await res.arrayBuffer();
    }
  });

  it('logs the browser in at /?token= without a cookie (cookies reach every port of the host) and keeps the page out of caches', async () => {
    const res = await fetch(`${srv.base}/?token=${encodeURIComponent(srv.token)}`, { redirect: 'manual' });
    expect(res.status).not.toBe(401); // the page (200), or 404 when the web app is not built
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('refuses a wrong /?token= with 401', async () => {
    const res = await fetch(`${srv.base}/?token=nope`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('no longer accepts the legacy nsconsole_token cookie, and expires it', async () => {
    const cookie = `nsconsole_token=${encodeURIComponent(srv.token)}`;
    const res = await fetch(`${srv.base}/api/sessions`, { headers: { cookie } });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toMatch(/^nsconsole_token=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i);
    expect(await upgradeStatus(srv.ws('/ws/events', { cookie }))).toBe(401);
  });

  it('takes the token from the WebSocket subprotocol list and answers only `nsconsole`', async () => {
    const entry = `token.${Buffer.from(srv.token).toString('base64url')}`;
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws/events`, ['nsconsole', entry]);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      expect(ws.protocol).toBe('nsconsole');
    } finally {
      ws.terminate();
    }
    const wrong = new WebSocket(`ws://127.0.0.1:${srv.port}/ws/events`, [
      'nsconsole',
      `token.${Buffer.from('wrong-token-wrong').toString('base64url')}`,
    ]);
    expect(await upgradeStatus(wrong)).toBe(401);
  });

  it('refuses WebSocket upgrades without a token → 401', async () => {
    expect(await upgradeStatus(srv.ws('/ws/events', {}))).toBe(401);
    expect(await upgradeStatus(srv.ws('/ws/sessions/abc', { authorization: 'Bearer nope' }))).toBe(401);
  });
});

describe('Host and Origin', () => {
  it('refuses a foreign Host on REST → 403', async () => {
    const http = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: srv.port, path: '/api/health', headers: { host: 'evil.example:80' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('accepts localhost with our port as Host', async () => {
    const res = await fetch(`http://localhost:${srv.port}/api/health`);
    expect(res.status).toBe(200);
  });

  it('refuses a WebSocket with a foreign Origin or Host → 403', async () => {
    const auth = { authorization: `Bearer ${srv.token}` };
    expect(await upgradeStatus(srv.ws('/ws/events', { ...auth, origin: 'http://evil.example' }))).toBe(403);
    expect(await upgradeStatus(srv.ws('/ws/events', { ...auth, host: 'evil.example' }))).toBe(403);
    expect(await upgradeStatus(srv.ws('/ws/events', { ...auth, origin: `http://127.0.0.1:${srv.port}` }))).toBe(101);
  });

  it('refuses a cross-origin API request even with the token → 403', async () => {
    const res = await srv.api('/api/sessions', { headers: { origin: 'http://evil.example' } });
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe('FORBIDDEN_ORIGIN');
  });
});

describe('bad input', () => {
  it('answers malformed JSON with 400 INVALID_JSON and keeps serving', async () => {
    const res = await srv.api('/api/sessions', {
      method: 'POST',
      body: '{"target":',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('INVALID_JSON');
    expect((await srv.api('/api/health')).status).toBe(200);
  });

  it('answers an unknown API route with a JSON 404', async () => {
    const res = await srv.api('/api/nope');
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('NOT_FOUND');
  });

  it('answers an upgrade on an unknown path or session with 404', async () => {
    expect(await upgradeStatus(srv.ws('/ws/nope'))).toBe(404);
    expect(await upgradeStatus(srv.ws('/ws/sessions/not-a-session'))).toBe(404);
  });
});

describe('read-only share links', () => {
  it('make the caller a viewer even when the owner token comes along (the owner opening their own link)', async () => {
    const created = await srv.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 }),
    });
    const { id } = (await created.json()) as { id: string };
    try {
      const share = (await (await srv.api(`/api/sessions/${id}/share`, { method: 'POST' })).json()) as {
        token: string;
      };
      const ws = srv.ws(`/ws/sessions/${id}?view=${encodeURIComponent(share.token)}`); // carries the Bearer owner token too
      const hello = await new Promise<{ type: string; readOnly?: boolean }>((resolve, reject) => {
        ws.on('message', (d: Buffer, bin: boolean) => {
          if (!bin) resolve(JSON.parse(d.toString('utf8')) as { type: string; readOnly?: boolean });
        });
        ws.once('error', reject);
      });
      ws.terminate();
      expect(hello).toMatchObject({ type: 'hello', readOnly: true });
      expect(await upgradeStatus(srv.ws(`/ws/sessions/${id}?view=not-a-token`))).toBe(401);
      // What the browser sends: the share token in the subprotocol list (no token in the URL).
      const viaProtocol = new WebSocket(`ws://127.0.0.1:${srv.port}/ws/sessions/${id}`, [
        'nsconsole',
        `view.${Buffer.from(share.token).toString('base64url')}`,
      ]);
      const hello2 = await new Promise<{ type: string; readOnly?: boolean }>((resolve, reject) => {
        viaProtocol.on('message', (d: Buffer, bin: boolean) => {
          if (!bin) resolve(JSON.parse(d.toString('utf8')) as { type: string; readOnly?: boolean });
        });
        viaProtocol.once('error', reject);
      });
      viaProtocol.terminate();
      expect(hello2).toMatchObject({ type: 'hello', readOnly: true });
    } finally {
      await srv.api(`/api/sessions/${id}`, { method: 'DELETE' });
    }
  });
});

describe('malformed requests', () => {
  it('survives an upgrade whose path is not a URL, and answers 404', async () => {
    const net = await import('node:net');
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(srv.port, '127.0.0.1', () => {
        sock.write(
          `GET // HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
        );
      });
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('close', () => resolve(data));
      sock.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 404/);
    expect((await srv.api('/api/health')).status).toBe(200);
  });

  it('answers bad %-encoding in a path with 400, not 500', async () => {
    const res = await srv.api('/api/namespaces/%E0/mounts');
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
  });

  it('answers a cross-origin upgrade without a token with 403 (Origin before token)', async () => {
    expect(await upgradeStatus(srv.ws('/ws/events', { origin: 'http://evil.example' }))).toBe(403);
  });
});
