// Terminal sessions through the real HTTP routes and WebSocket stream: real bash in a real pty.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../shared/protocol.js';
import { startServer } from '../helpers/server.js';
import { hermeticShell, startTerminalHarness, type TerminalHarness } from '../helpers/terminal-harness.js';
import { TermClient } from '../helpers/term-client.js';
import { pidsInSession, waitUntil } from '../helpers/proc.js';

const clients: TermClient[] = [];
function track(c: TermClient): TermClient {
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.dispose();
});

async function attach(h: TerminalHarness, id: string, view?: string): Promise<TermClient> {
  const c = track(new TermClient(h.openWs(id, view)));
  await c.opened;
  await c.waitForMessage('hello');
  return c;
}

describe('terminal sessions', () => {
  let h: TerminalHarness;
  beforeAll(async () => {
    h = await startTerminalHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('echoes a command round trip over the WebSocket', async () => {
    const { id, pid } = await h.createSession();
    const c = await attach(h, id);
    expect(c.hello).toMatchObject({ type: 'hello', session: id, pid, readOnly: false, target: { kind: 'host' } });
    c.type('echo hi$((40+2))\r');
    await c.waitForText('hi42');
  });

  it('answers POST with 201 and SessionInfo, lists and shows sessions', async () => {
    const res = await h.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'host' }, cols: 100, rows: 30 }),
    });
    expect(res.status).toBe(201);
    const info = (await res.json()) as {
      id: string;
      pid: number;
      cols: number;
      rows: number;
      clients: number;
      exited: unknown;
    };
    expect(info).toMatchObject({ target: { kind: 'host' }, cols: 100, rows: 30, clients: 0, exited: null });
    expect(info.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const list = (await (await h.api('/api/sessions')).json()) as { sessions: { id: string }[] };
    expect(list.sessions.map((s) => s.id)).toContain(info.id);
    const one = await h.api(`/api/sessions/${info.id}`);
    expect(one.status).toBe(200);
    expect(((await one.json()) as { pid: number }).pid).toBe(info.pid);
  });

  it('refuses bad create requests and unknown ids', async () => {
    const bad = await h.api('/api/sessions', { method: 'POST', body: JSON.stringify({ cols: 99999 }) });
    expect(bad.status).toBe(400);
    const badTarget = await h.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'namespace', id: '../../etc' } }),
    });
    expect(badTarget.status).toBe(400);
    expect(((await badTarget.json()) as { error: { code: string } }).error.code).toBe('BAD_TARGET');
    for (const [method, path] of [
      ['GET', '/api/sessions/nope'],
      ['DELETE', '/api/sessions/nope'],
      ['POST', '/api/sessions/nope/share'],
    ] as const) {
      const res = await h.api(path, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('SESSION_NOT_FOUND');
    }
  });

  it('resizes the pty: stty size sees it, and other clients are told', async () => {
    const { id } = await h.createSession();
    const a = await attach(h, id);
    const b = await attach(h, id);
    a.resize(123, 37);
    a.type('stty size\r');
    await a.waitForText('37 123');
    const resized = await b.waitForMessage('resized');
    expect(resized).toEqual({ type: 'resized', cols: 123, rows: 37 });
    expect(h.registry.get(id)?.info()).toMatchObject({ cols: 123, rows: 37 });
  });

  it('answers malformed control messages with an error and keeps the socket open', async () => {
    const { id } = await h.createSession();
    const c = await attach(h, id);
    const errors = () => c.messages.filter((m) => m.type === 'error');
    c.control('{not json');
    c.control({ type: 'resize', cols: 100000, rows: 10 });
    c.control({ type: 'resize', cols: -1, rows: 'x' });
    c.control({ type: 'launch', argv: ['/bin/sh'] });
    c.control({ type: 'ack', bytes: -5 });
    await c.waitFor(() => errors().length === 5, 'five errors');
    expect(errors().map((m) => (m as { code: string }).code)).toEqual([
      'INVALID_JSON',
      'BAD_MESSAGE',
      'BAD_MESSAGE',
      'BAD_MESSAGE',
      'BAD_MESSAGE',
    ]);
    c.type('echo still$((1+1))\r');
    await c.waitForText('still2');
    expect(c.closed).toBeUndefined();
  });

  it('closes a frame over the payload limit with 1009', async () => {
    const { id } = await h.createSession();
    const c = await attach(h, id);
    c.type('x'.repeat(2 * 1024 * 1024));
    expect((await c.waitClosed()).code).toBe(CLOSE.TOO_BIG);
  });

  it('lets a read-only viewer watch but not type or resize', async () => {
    const { id } = await h.createSession();
    const owner = await attach(h, id);
    const share = await h.api(`/api/sessions/${id}/share`, { method: 'POST' });
    expect(share.status).toBe(201);
    const link = (await share.json()) as { token: string; url: string };
    expect(link.url).toBe(`/?session=${id}&view=${link.token}`);
    // the same token on every call: a link once shared keeps working
    expect(
      ((await (await h.api(`/api/sessions/${id}/share`, { method: 'POST' })).json()) as { token: string }).token,
    ).toBe(link.token);

    const viewer = await attach(h, id, link.token);
    expect(viewer.hello?.readOnly).toBe(true);
    viewer.type('echo VIEWER$((1+1))\r');
    viewer.control({ type: 'resize', cols: 40, rows: 10 });
    await viewer.waitFor(
      () => viewer.messages.filter((m) => m.type === 'error' && m.code === 'READ_ONLY').length === 2,
      'two READ_ONLY errors',
    );
    owner.type('echo OWNER$((1+1))\r');
    await viewer.waitForText('OWNER2');
    expect(owner.text()).not.toContain('VIEWER');
    expect(h.registry.get(id)?.info()).toMatchObject({ cols: 80, rows: 24 });
    expect(viewer.closed).toBeUndefined();

    // The viewer token opens nothing else: not the REST API, not another session.
    const rest = await fetch(`${h.base}/api/sessions`, { headers: { authorization: `Bearer ${link.token}` } });
    expect(rest.status).toBe(401);
    const other = await h.createSession();
    const foreign = track(new TermClient(h.openWs(other.id, link.token)));
    await expect(foreign.opened).rejects.toThrow(/401/);
  });

  it('refuses a client beyond the per-session limit with an error, then close 4029', async () => {
    const small = await startTerminalHarness({ config: { maxClientsPerSession: 2 } });
    try {
      const { id } = await small.createSession();
      await attach(small, id);
      await attach(small, id);
      const third = track(new TermClient(small.openWs(id)));
      const closed = await third.waitClosed();
      expect(closed.code).toBe(CLOSE.TOO_MANY_CLIENTS);
      expect(third.messages).toEqual([expect.objectContaining({ type: 'error', code: 'TOO_MANY_CLIENTS' })]);
    } finally {
      await small.close();
    }
  });

  it('refuses sessions beyond --max-sessions and beyond the create rate', async () => {
    const few = await startTerminalHarness({ config: { maxSessions: 2 } });
    const slow = await startTerminalHarness({ createRate: { burst: 2, perSecond: 0.01 } });
    try {
      for (const [server, code] of [
        [few, 'TOO_MANY_SESSIONS'],
        [slow, 'RATE_LIMITED'],
      ] as const) {
        await server.createSession();
        await server.createSession();
        const res = await server.api('/api/sessions', { method: 'POST', body: '{}' });
        expect(res.status).toBe(429);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      }
    } finally {
      await Promise.all([few.close(), slow.close()]);
    }
  });

  it('delivers every byte written before the shell exits, then exit, then close 4000', async () => {
    const { id } = await h.createSession();
    const c = await attach(h, id);
    c.type('seq 1 1000000; exit 3\r');
    const exit = await c.waitForMessage('exit', 30_000);
    expect(exit).toEqual({ type: 'exit', code: 3, signal: null });
    await c.settled();
    // bash says `exit` as it leaves
    expect(
      c
        .lines()
        .filter((l) => l.trim() !== '')
        .slice(-3),
    ).toEqual(['999999', '1000000', 'exit']);
    expect((await c.waitClosed()).code).toBe(CLOSE.SESSION_EXITED);
  });

  it('delivers the last line even to a slow client, with the pty paused when the shell exits', async () => {
    const { id } = await h.createSession();
    const c = track(new TermClient(h.openWs(id), { delayMs: 15 }));
    await c.waitForMessage('hello');
    c.type('seq 1 300000; exit\r');
    await c.waitForMessage('exit', 30_000);
    await c.settled();
    expect(
      c
        .lines()
        .filter((l) => l.trim() !== '')
        .slice(-2),
    ).toEqual(['300000', 'exit']);
  });

  it('replays the final screen and the exit to a client that attaches after the exit', async () => {
    const { id } = await h.createSession();
    const c = await attach(h, id);
    c.type('echo bye$((1+1)); exit\r');
    await c.waitForMessage('exit');
    const late = track(new TermClient(h.openWs(id)));
    await late.waitForMessage('exit');
    await late.waitForText('bye2');
    expect((await late.waitClosed()).code).toBe(CLOSE.SESSION_EXITED);
  });

  it('ends the process group on DELETE (204), including background jobs that ignore SIGHUP', async () => {
    const { id, pid } = await h.createSession();
    const c = await attach(h, id);
    c.type('nohup sleep 1000 >/dev/null 2>&1 & bash -c \'trap "" HUP; sleep 1000\' & echo started$((1+1))\r');
    await c.waitForText('started2');
    await waitUntil(() => pidsInSession(pid, h.mark).length >= 3, 'shell and jobs');
    const res = await h.api(`/api/sessions/${id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(pidsInSession(pid, h.mark)).toEqual([]);
    expect((await h.api(`/api/sessions/${id}`)).status).toBe(404);
  });
});

describe('terminal sessions in the composed server (startNsconsole)', () => {
  it('creates a session over REST and echoes over its WebSocket', async () => {
    const shell = hermeticShell();
    const server = await startServer({ shell: shell.shell });
    try {
      const res = await server.api('/api/sessions', {
        method: 'POST',
        body: JSON.stringify({ target: { kind: 'host' } }),
      });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const c = track(new TermClient(server.ws(`/ws/sessions/${id}`)));
      await c.waitForMessage('hello');
      c.type('echo composed$((40+2))\r');
      await c.waitForText('composed42');
      expect((await server.api(`/api/sessions/${id}`, { method: 'DELETE' })).status).toBe(204);
    } finally {
      await server.close();
      shell.cleanup();
    }
  });
});
