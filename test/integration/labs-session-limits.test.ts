// Issues #12/#16 against the real server process: in labs mode one user cannot take every session slot
// (--max-sessions-per-user), and one session's replay screen is bounded whatever size a client asks for
// (--screen-memory: the terminal is narrowed, and the asker is told the size it got).
// On main both fail: a user opens sessions up to --max-sessions, and a 1000×500 terminal is taken as asked.
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { request, until, wsAs, USER_HEADER, type As } from '../helpers/labs.js';
import { DEFAULT_SCREEN_CELLS } from '../../server/config/limits.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function lab(extra: string[]): Promise<ServerProcess> {
  const server = await spawnServer(['--auth-header', USER_HEADER, '--admin', 'teacher', ...extra]);
  cleanups.push(() => server.stop());
  return server;
}

const create = (server: ServerProcess, as: As, size = { cols: 80, rows: 24 }) =>
  request(server.base, '/api/sessions', as, { method: 'POST', body: { target: { kind: 'host' }, ...size } });

async function created(server: ServerProcess, as: As): Promise<string> {
  const r = await create(server, as);
  expect(r.status, r.body).toBe(201);
  return r.json<{ id: string }>().id;
}

interface ErrorAnswer {
  error: { code: string; message: string };
}

describe('--max-sessions-per-user', () => {
  it('stops one user at their cap while others still open sessions; closing one frees a slot', async () => {
    const server = await lab(['--max-sessions-per-user', '2', '--max-sessions', '7']);
    const alice = { user: 'alice' };
    const bob = { user: 'bob' };
    const a1 = await created(server, alice);
    await created(server, alice);

    const refused = await create(server, alice);
    expect(refused.status).toBe(429);
    const body = refused.json<ErrorAnswer>();
    expect(body.error.code).toBe('TOO_MANY_USER_SESSIONS');
    expect(body.error.message).toContain('--max-sessions-per-user');
    expect(body.error.message).toContain('2');

    // Another user is not held back by alice's sessions.
    await created(server, bob);
    await created(server, bob);
    expect((await create(server, bob)).json<ErrorAnswer>().error.code).toBe('TOO_MANY_USER_SESSIONS');

    // Closing one of alice's gives her a slot back (and only one).
    const del = await request(server.base, `/api/sessions/${a1}`, alice, { method: 'DELETE' });
    expect(del.status).toBe(204);
    await created(server, alice);
    expect((await create(server, alice)).status).toBe(429);

    // An admin (--admin) is held by the per-user cap like anyone: watching others opens no session of theirs.
    const teacher = { user: 'teacher' };
    await created(server, teacher);
    await created(server, teacher);
    expect((await create(server, teacher)).json<ErrorAnswer>().error.code).toBe('TOO_MANY_USER_SESSIONS');

    // The token holder is exempt from the per-user cap but not from the global one: 6 taken, 7 at most.
    const token = { token: server.token };
    await created(server, token);
    const full = await create(server, token);
    expect(full.status).toBe(429);
    expect(full.json<ErrorAnswer>().error.code).toBe('TOO_MANY_SESSIONS');

    // The server kept serving: the list still answers, and each user sees only their own.
    const mine = await request(server.base, '/api/sessions', alice);
    expect(mine.json<{ sessions: unknown[] }>().sessions).toHaveLength(2);
  });

  it('counts a session that ended by itself as freed once it is gone', async () => {
    const server = await lab(['--max-sessions-per-user', '1', '--session-grace', '0']);
    const carol = { user: 'carol' };
    const id = await created(server, carol);
    expect((await create(server, carol)).status).toBe(429);
    const ws = wsAs(server.base, `/ws/sessions/${id}`, carol);
    cleanups.push(() => ws.terminate());
    const hello = firstMessage(ws, 'hello');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await hello;
    ws.send(Buffer.from('exit\r'));
    // The shell exits and the session is reaped after its (zero) grace period: carol may open another.
    await until('a free slot after the exit', async () =>
      (await create(server, carol)).status === 201 ? true : undefined,
    );
  });
});

/** The first text message of `type` (listener registered before 'open', see BRIEF). */
function firstMessage(ws: WebSocket, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (d: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) return;
      const msg = JSON.parse(d.toString()) as Record<string, unknown>;
      if (msg.type !== type) return;
      ws.off('message', onMessage);
      resolve(msg);
    };
    ws.on('message', onMessage);
  });
}

/** Every text message of the socket, and the terminal output as text, as they arrive. */
function record(ws: WebSocket): { messages: Array<Record<string, unknown>>; output: () => string } {
  const messages: Array<Record<string, unknown>> = [];
  let output = '';
  ws.on('message', (d, isBinary) => {
    const bytes = Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d);
    if (isBinary) {
      output += bytes.toString('utf8');
      ws.send(JSON.stringify({ type: 'ack', bytes: bytes.length }));
    } else messages.push(JSON.parse(bytes.toString('utf8')) as Record<string, unknown>);
  });
  return { messages, output: () => output };
}

describe('--screen-memory', () => {
  const scrollback = 1000; // the default
  const widest = (rows: number) => Math.floor(DEFAULT_SCREEN_CELLS / (rows + scrollback));

  it('narrows a terminal whose replay screen would exceed the budget, and the pty and the asker agree', async () => {
    const server = await lab([]);
    const dave = { user: 'dave' };
    // Asked at create: the answer carries the size taken.
    const big = await create(server, dave, { cols: 1000, rows: 500 });
    expect(big.status, big.body).toBe(201);
    const info = big.json<{ id: string; cols: number; rows: number }>();
    expect(info).toMatchObject({ cols: widest(500), rows: 500 });
    expect(info.cols * (info.rows + scrollback)).toBeLessThanOrEqual(DEFAULT_SCREEN_CELLS);
    expect(info.cols).toBeLessThan(1000);

    const ws = wsAs(server.base, `/ws/sessions/${info.id}`, dave);
    cleanups.push(() => ws.terminate());
    const seen = record(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await until('hello', () => seen.messages.find((m) => m.type === 'hello'));
    expect(seen.messages.find((m) => m.type === 'hello')).toMatchObject({ cols: widest(500), rows: 500 });

    // The same oversized ask again: nothing changes, but the asker is told the size it has.
    ws.send(JSON.stringify({ type: 'resize', cols: 1000, rows: 500 }));
    await until('resized to the budget', () =>
      seen.messages.find((m) => m.type === 'resized' && m.cols === widest(500) && m.rows === 500),
    );

    // A size within the budget is taken as asked; a wide one at another height is narrowed for that height.
    ws.send(JSON.stringify({ type: 'resize', cols: 120, rows: 40 }));
    await until('120×40', () => seen.messages.find((m) => m.type === 'resized' && m.cols === 120 && m.rows === 40));
    ws.send(JSON.stringify({ type: 'resize', cols: 1000, rows: 200 }));
    await until('narrowed at 200 rows', () =>
      seen.messages.find((m) => m.type === 'resized' && m.cols === widest(200) && m.rows === 200),
    );

    // The shell's own terminal has that size (the kernel's winsize, as stty reads it).
    ws.send(Buffer.from('stty size\r'));
    await until('stty size', () => (seen.output().includes(`200 ${widest(200)}`) ? true : undefined));
    const answer = await request(server.base, `/api/sessions/${info.id}`, dave);
    expect(answer.json()).toMatchObject({ cols: widest(200), rows: 200 });
  });

  it('takes a smaller budget from the flag', async () => {
    const server = await lab(['--screen-memory', '2']);
    const cells = Math.floor((2 * 1024 * 1024) / 12);
    const r = await create(server, { user: 'erin' }, { cols: 500, rows: 100 });
    expect(r.json()).toMatchObject({ cols: Math.floor(cells / (100 + scrollback)), rows: 100 });
  });
});
