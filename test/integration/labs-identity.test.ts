// Issue #12 items 2-4 against the real server process: identity from a trusted proxy's header (127.0.0.1 is
// trusted by default; 127.0.0.2 plays an untrusted one), per-user sessions over REST and WS, the admin's
// read-only view, and the audit log (one line per action, with the right user; no line lost across rotation).
// On main none of this exists: the header is ignored (401), every token holder sees every session, no audit file.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, renameSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type WebSocket from 'ws';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { request, until, upgradeStatus, wsAs, USER_HEADER, type As } from '../helpers/labs.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Lab {
  server: ServerProcess;
  auditFile: string;
  dir: string;
  audit(): Array<Record<string, unknown>>;
}

async function lab(extra: string[] = []): Promise<Lab> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-labs-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const auditFile = path.join(dir, 'audit.jsonl');
  const server = await spawnServer([
    '--auth-header',
    USER_HEADER,
    '--admin',
    'teacher',
    '--audit-log',
    auditFile,
    ...extra,
  ]);
  cleanups.push(() => server.stop());
  const audit = () =>
    existsSync(auditFile)
      ? readFileSync(auditFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  return { server, auditFile, dir, audit };
}

const hostSession = { target: { kind: 'host' }, cols: 80, rows: 24 };

async function createSession(l: Lab, as: As): Promise<{ id: string; owner: string }> {
  const r = await request(l.server.base, '/api/sessions', as, { method: 'POST', body: hostSession });
  expect(r.status, r.body).toBe(201);
  return r.json();
}

/** Resolves with the first text message (the hello) of an opened terminal socket. */
function hello(ws: WebSocket): Promise<{ type: string; readOnly: boolean }> {
  return new Promise((resolve, reject) => {
    ws.on('message', (d, isBinary) => {
      if (!isBinary) resolve(JSON.parse(d.toString()) as { type: string; readOnly: boolean });
    });
    ws.once('error', reject);
  });
}

describe('identity from a trusted proxy', () => {
  it('believes the header from 127.0.0.1, ignores and audits it from 127.0.0.2; the token is an admin', async () => {
    const l = await lab();
    const base = l.server.base;
    expect((await request(base, '/api/whoami', { user: 'alice' })).json()).toEqual({
      user: 'alice',
      admin: false,
      sandbox: false,
    });
    expect((await request(base, '/api/whoami', { user: 'teacher' })).json()).toEqual({
      user: 'teacher',
      admin: true,
      sandbox: false,
    });
    expect((await request(base, '/api/whoami', { token: l.server.token })).json()).toEqual({
      user: '@token',
      admin: true,
      sandbox: false,
    });

    // Forged from an untrusted address: never authenticates; with the token it is the token's caller.
    const forged = await request(base, '/api/whoami', { user: 'teacher', from: '127.0.0.2' });
    expect(forged.status).toBe(401);
    expect(
      (await request(base, '/api/whoami', { user: 'teacher', from: '127.0.0.2', token: l.server.token })).json(),
    ).toEqual({ user: '@token', admin: true, sandbox: false });
    const ws = wsAs(base, '/ws/events', { user: 'teacher', from: '127.0.0.2' });
    expect(await upgradeStatus(ws)).toBe(401);

    const lines = l.audit();
    expect(lines.filter((a) => a.action === 'auth.untrusted_header')).toHaveLength(3);
    expect(
      lines
        .filter((a) => a.action === 'auth.untrusted_header')
        .every((a) => a.ip === '127.0.0.2' && a.claimed === 'teacher' && a.user === null),
    ).toBe(true);
    expect(lines.filter((a) => a.action === 'auth.fail').map((a) => a.path)).toEqual(['/api/whoami', '/ws/events']);
  });

  it('with --proxy-secret-file, believes the header only with the secret (another local user cannot claim a name)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-secret-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const secretFile = path.join(dir, 'secret');
    writeFileSync(secretFile, 'proxy-secret-0123456789abcdef\n', { mode: 0o600 });
    const l = await lab(['--proxy-secret-file', secretFile]);
    const without = await request(l.server.base, '/api/whoami', { user: 'teacher' });
    expect(without.status).toBe(401);
    const wrong = await request(l.server.base, '/api/whoami', {
      user: 'teacher',
      headers: { 'x-nsconsole-proxy-secret': 'guess-guess-guess-guess' },
    });
    expect(wrong.status).toBe(401);
    const right = await request(l.server.base, '/api/whoami', {
      user: 'teacher',
      headers: { 'x-nsconsole-proxy-secret': 'proxy-secret-0123456789abcdef' },
    });
    expect(right.json()).toEqual({ user: 'teacher', admin: true, sandbox: false });
    expect(l.audit().filter((a) => a.action === 'auth.untrusted_header')).toHaveLength(2);
  });

  it.each([
    ['empty', ''],
    ['over-long', 'u'.repeat(257)],
    ['control character', 'ali\tce'],
    ['reserved @ prefix (the token user)', '@token'],
  ])('refuses a %s user name with 401 and an audit line, even with the token', async (_what, name) => {
    const l = await lab();
    const r = await request(l.server.base, '/api/whoami', { user: name, token: l.server.token });
    expect(r.status).toBe(401);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('UNAUTHORIZED');
    const fails = l.audit().filter((a) => a.action === 'auth.fail');
    expect(fails).toHaveLength(1);
    expect(fails[0]).toMatchObject({ user: null, ip: '127.0.0.1', path: '/api/whoami' });
    expect(typeof fails[0]?.reason).toBe('string');
  });
});

describe('per-user sessions', () => {
  it('a user sees and attaches only their own; an admin sees all with owners and watches read-only', async () => {
    const l = await lab();
    const base = l.server.base;
    const alice: As = { user: 'alice' };
    const bob: As = { user: 'bob' };
    const teacher: As = { user: 'teacher' };
    const a = await createSession(l, alice);
    const b = await createSession(l, bob);
    expect(a.owner).toBe('alice');

    const aliceList = (await request(base, '/api/sessions', alice))
      .json<{ sessions: Array<{ id: string }> }>()
      .sessions.map((s) => s.id);
    expect(aliceList).toEqual([a.id]);
    for (const [method, p] of [
      ['GET', `/api/sessions/${b.id}`],
      ['DELETE', `/api/sessions/${b.id}`],
      ['POST', `/api/sessions/${b.id}/share`],
    ] as const) {
      const r = await request(base, p, alice, { method });
      expect(r.status, `${method} ${p}`).toBe(404);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('SESSION_NOT_FOUND');
    }
    expect(await upgradeStatus(wsAs(base, `/ws/sessions/${b.id}`, alice))).toBe(404);

    for (const admin of [teacher, { token: l.server.token }]) {
      const all = (await request(base, '/api/sessions', admin)).json<{
        sessions: Array<{ id: string; owner: string }>;
      }>().sessions;
      expect(all.map((s) => [s.id, s.owner]).sort()).toEqual(
        [
          [a.id, 'alice'],
          [b.id, 'bob'],
        ].sort(),
      );
    }
    // The admin may not end or share a learner's session.
    expect((await request(base, `/api/sessions/${b.id}`, teacher, { method: 'DELETE' })).status).toBe(403);

    // Watching: read-only hello, typing refused, the owner's shell untouched.
    const watch = wsAs(base, `/ws/sessions/${b.id}`, teacher);
    cleanups.push(() => watch.terminate());
    expect(await hello(watch)).toMatchObject({ type: 'hello', readOnly: true });
    const refused = new Promise<{ code: string }>((resolve) =>
      watch.on(
        'message',
        (d, bin) =>
          !bin && JSON.parse(d.toString()).type === 'error' && resolve(JSON.parse(d.toString()) as { code: string }),
      ),
    );
    watch.send(Buffer.from('echo hi\r'));
    expect((await refused).code).toBe('READ_ONLY');
    // The owner writes.
    const own = wsAs(base, `/ws/sessions/${b.id}`, bob);
    cleanups.push(() => own.terminate());
    expect(await hello(own)).toMatchObject({ readOnly: false });

    // A share link keeps working as today: the owner makes it, anyone with it watches that one session.
    const share = await request(base, `/api/sessions/${a.id}/share`, alice, { method: 'POST' });
    expect(share.status).toBe(201);
    const viewToken = share.json<{ token: string }>().token;
    const viewer = wsAs(base, `/ws/sessions/${a.id}?view=${encodeURIComponent(viewToken)}`, {});
    cleanups.push(() => viewer.terminate());
    expect(await hello(viewer)).toMatchObject({ readOnly: true });
    expect(await upgradeStatus(wsAs(base, `/ws/sessions/${b.id}?view=${encodeURIComponent(viewToken)}`, {}))).toBe(401);

    expect((await request(base, `/api/sessions/${a.id}`, alice, { method: 'DELETE' })).status).toBe(204);

    // Every audited action once, with the right user.
    const lines = l.audit();
    const of = (action: string) => lines.filter((x) => x.action === action);
    expect(of('session.create').map((x) => [x.user, x.session])).toEqual([
      ['alice', a.id],
      ['bob', b.id],
    ]);
    expect(of('session.attach').map((x) => [x.user, x.session, x.readOnly])).toEqual([
      ['teacher', b.id, true],
      ['bob', b.id, false],
    ]);
    expect(of('share.create').map((x) => [x.user, x.session])).toEqual([['alice', a.id]]);
    expect(of('share.open').map((x) => [x.user, x.session])).toEqual([[null, a.id]]);
    expect(of('session.end').map((x) => [x.user, x.session, x.reason])).toEqual([['alice', a.id, 'delete']]);

    // A shell that exits by itself ends its session too: recorded once, under its owner.
    own.send(Buffer.from('exit\r'));
    const ended = await until('the exit in the audit log', () => {
      const e = l.audit().filter((x) => x.action === 'session.end' && x.session === b.id);
      return e.length > 0 ? e : undefined;
    });
    expect(ended.map((x) => [x.user, x.reason])).toEqual([['bob', 'exit']]);
    expect(lines.every((x) => (typeof x.time === 'string' && x.ip === '127.0.0.1') || x.action === 'auth.fail')).toBe(
      true,
    );
  });
});

describe('audit log', () => {
  it('records namespace.create and namespace.delete with the user, before the answer', async () => {
    const l = await lab();
    const name = `labs-audit-${process.pid}`;
    const created = await request(
      l.server.base,
      '/api/namespaces',
      { user: 'alice' },
      { method: 'POST', body: { type: 'mnt', name } },
    );
    // Read right after the answer: the line is already in the file.
    const afterCreate = l.audit().filter((x) => x.action === 'namespace.create');
    expect(afterCreate).toEqual([expect.objectContaining({ user: 'alice', namespace: name, status: created.status })]);
    if (created.status === 201) {
      const id = created.json<{ id: string }>().id;
      const del = await request(
        l.server.base,
        `/api/namespaces/${encodeURIComponent(id)}`,
        { user: 'alice' },
        { method: 'DELETE' },
      );
      expect(del.status).toBe(204);
      expect(l.audit().filter((x) => x.action === 'namespace.delete')).toEqual([
        expect.objectContaining({ user: 'alice', namespace: id, status: 204 }),
      ]);
    } else {
      expect(created.status, created.body).toBe(201);
    }
  });

  it('survives rotation on SIGHUP with no line lost', async () => {
    const l = await lab();
    const rotated = path.join(l.dir, 'audit.jsonl.1');
    const N = 150; // under the unauthenticated burst (conn-limits.ts: 200), so none is refused with 429 before the app
    const ROTATE_AT = 60;
    let sent = 0;
    for (let i = 0; i < N; i++) {
      if (i === ROTATE_AT) {
        renameSync(l.auditFile, rotated);
        l.server.child.kill('SIGHUP');
      }
      // auth.fail lines, numbered by path; concurrent with the reopen
      void request(l.server.base, `/api/n-${i}`, { token: 'wrong-token-wrong-token' }).then(() => sent++);
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    await until('every answer', () => (sent === N ? true : undefined));
    await until('the new file', () => (existsSync(l.auditFile) ? true : undefined));
    const read = (f: string) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((s) => JSON.parse(s) as { action: string; path: string });
    const all = [...read(rotated), ...read(l.auditFile)].filter((x) => x.action === 'auth.fail').map((x) => x.path);
    expect(all).toHaveLength(N);
    expect(new Set(all).size).toBe(N);
    expect(read(l.auditFile).length).toBeGreaterThan(0);
  });
});
