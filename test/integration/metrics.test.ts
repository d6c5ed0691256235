// GET /metrics (issue #12 item 5): Prometheus text from the real server; the session and client gauges follow
// opens and closes, pty bytes count both ways, the scan and event → push histograms fill; never shown to
// non-admins. On main /metrics is the web app's 404.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { startServer, type TestServer } from '../helpers/server.js';
import { request, until, USER_HEADER } from '../helpers/labs.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Samples = Map<string, number>;

/** Prometheus text exposition format 0.0.4, strictly enough to fail on anything malformed. */
function parsePrometheus(text: string): Samples {
  const samples: Samples = new Map();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        typed.add(meta[2] as string);
      }
      continue;
    }
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(
        line,
      );
    if (!m) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const base = (m[1] as string).replace(/_(bucket|sum|count)$/, '');
    expect(typed.has(m[1] as string) || typed.has(base), `${m[1]} has a TYPE`).toBe(true);
    samples.set((m[1] as string) + (m[2] ?? ''), Number(m[3]));
  }
  return samples;
}

async function metrics(s: TestServer): Promise<Samples> {
  const r = await s.api('/metrics');
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await r.text());
}

async function server(): Promise<TestServer> {
  const s = await startServer({ authHeader: USER_HEADER, admins: ['teacher'] });
  cleanups.push(() => s.close());
  return s;
}

describe('GET /metrics', () => {
  it('follows sessions and clients, counts pty bytes both ways', async () => {
    const s = await server();
    const before = await metrics(s);
    expect(before.get('nsconsole_sessions')).toBe(0);
    expect(before.get('nsconsole_clients')).toBe(0);

    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await s.api('/api/sessions', {
        method: 'POST',
        body: JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 }),
      });
      expect(r.status).toBe(201);
      ids.push(((await r.json()) as { id: string }).id);
    }
    expect((await metrics(s)).get('nsconsole_sessions')).toBe(2);

    const ws = s.ws(`/ws/sessions/${ids[0]}`);
    cleanups.push(() => ws.terminate());
    let out = '';
    ws.on('message', (d, bin) => {
      if (bin) out += d.toString();
    });
    await new Promise((r) => ws.once('open', r));
    expect((await metrics(s)).get('nsconsole_clients')).toBe(1);
    ws.send(Buffer.from('echo metrics-$((6*7))\r'));
    await until('the echo', () => (out.includes('metrics-42') ? true : undefined));
    const m = await metrics(s);
    expect(m.get('nsconsole_pty_bytes_total{direction="in"}')).toBe(Buffer.byteLength('echo metrics-$((6*7))\r'));
    expect(m.get('nsconsole_pty_bytes_total{direction="out"}')).toBeGreaterThan(0);

    ws.close();
    await until('the client gone', async () => ((await metrics(s)).get('nsconsole_clients') === 0 ? true : undefined));
    expect((await s.api(`/api/sessions/${ids[1]}`, { method: 'DELETE' })).status).toBe(204);
    expect((await metrics(s)).get('nsconsole_sessions')).toBe(1);
  });

  it('times namespace scans and kernel event → push', async () => {
    const s = await server();
    const events = s.ws('/ws/events');
    cleanups.push(() => events.terminate());
    let lists = 0;
    events.on('message', (d) => {
      if ((JSON.parse(d.toString()) as { type: string }).type === 'namespaces') lists++;
    });
    await until('the first list', () => (lists > 0 ? true : undefined));
    expect((await metrics(s)).get('nsconsole_namespace_scan_seconds_count')).toBeGreaterThanOrEqual(1);

    // A new mount namespace: a process event, a rescan, a changed list pushed.
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '30'], { stdio: 'ignore' });
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    const pushed = await until('a process event push', async () => {
      const m = await metrics(s);
      const n = m.get('nsconsole_event_push_latency_seconds_count{source="process"}') ?? 0;
      return n >= 1 ? m : undefined;
    });
    expect(pushed.get('nsconsole_event_push_latency_seconds_sum{source="process"}')).toBeGreaterThanOrEqual(0);
  });

  it('is for admins only: 401 without a caller, 403 for a user, 200 for an admin user', async () => {
    const s = await server();
    expect((await request(s.base, '/metrics', {})).status).toBe(401);
    const user = await request(s.base, '/metrics', { user: 'alice' });
    expect(user.status).toBe(403);
    expect(user.body).not.toContain('nsconsole_');
    expect((await request(s.base, '/metrics', { user: 'teacher', from: '127.0.0.2' })).status).toBe(401);
    const admin = await request(s.base, '/metrics', { user: 'teacher' });
    expect(admin.status).toBe(200);
    expect(admin.body).toContain('nsconsole_sessions');
    // a viewer (share link) never reads metrics
    const created = await s.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 }),
    });
    const { id } = (await created.json()) as { id: string };
    const { token } = (await (await s.api(`/api/sessions/${id}/share`, { method: 'POST' })).json()) as {
      token: string;
    };
    expect((await fetch(`${s.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  });
});
