// The runtime API client against fake daemons on real unix sockets: good answers give names and labels; a slow,
// silent, garbage or oversized answer costs a list at most RUNTIME_WAIT_MS and never throws; no socket is silent.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.js';
import { parseContainerList, RUNTIME_WAIT_MS, RuntimeNames } from '../../server/containers/runtime-api.js';

const log = createLogger('silent');
const ID = 'c'.repeat(64);
/** A generous bound over RUNTIME_WAIT_MS for a loaded machine; the point is "not the API's 10 s". */
const STALL_BOUND_MS = RUNTIME_WAIT_MS + 1500;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeDaemon(handler: http.RequestListener): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsc-fake-docker-'));
  const socket = path.join(dir, 'docker.sock');
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return socket;
}

const container = {
  Id: ID,
  Names: ['/web-1'],
  Image: 'nginx:1',
  Labels: {
    'com.docker.compose.project': 'shop',
    'com.docker.compose.service': 'web',
    'io.kubernetes.pod.name': 'p',
    'io.kubernetes.pod.namespace': 'ns',
  },
};

describe('RuntimeNames', () => {
  it('names containers, with compose and pod labels, from /containers/json', async () => {
    let asked = '';
    const socket = await fakeDaemon((req, res) => {
      asked = req.url ?? '';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify([container]));
    });
    const facts = await new RuntimeNames(socket, log).facts([ID]);
    expect(facts.get(ID)).toEqual({
      name: 'web-1',
      image: 'nginx:1',
      compose: { project: 'shop', service: 'web' },
      pod: { name: 'p', namespace: 'ns' },
    });
    expect(asked).toContain('/containers/json?all=1&filters=');
  });

  it('does not ask again for a container it knows', async () => {
    let calls = 0;
    const socket = await fakeDaemon((_req, res) => {
      calls++;
      res.end(JSON.stringify([container]));
    });
    const names = new RuntimeNames(socket, log);
    await names.facts([ID]);
    await names.facts([ID]);
    expect(calls).toBe(1);
  });

  for (const [what, handler] of [
    ['never answers', () => undefined],
    ['answers garbage', (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('<html>not json')],
    [
      'answers an object',
      (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('{"message":"page not found"}'),
    ],
    ['answers 500', (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(500).end('[]')],
    [
      'trickles bytes forever',
      (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.write('[');
        const t = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(t));
      },
    ],
  ] as const) {
    it(`a daemon that ${what} costs at most the wait and no error`, async () => {
      const socket = await fakeDaemon(handler as http.RequestListener);
      const names = new RuntimeNames(socket, log);
      const t0 = performance.now();
      const facts = await names.facts([ID]);
      expect(performance.now() - t0).toBeLessThan(STALL_BOUND_MS);
      expect(facts.size).toBe(0);
    });
  }

  it('asks again soon for a container the daemon did not list yet, and says when its name came', async () => {
    // `docker run`: the container's first process runs while the daemon is still registering it.
    let calls = 0;
    const socket = await fakeDaemon((_req, res) => {
      calls++;
      res.end(JSON.stringify(calls === 1 ? [] : [container]));
    });
    let learned!: () => void;
    const told = new Promise<void>((resolve) => (learned = resolve));
    const names = new RuntimeNames(socket, log, () => learned());
    cleanups.push(() => names.dispose());
    expect((await names.facts([ID])).size).toBe(0);
    await told; // well before the 5 s an unknown id used to wait
    expect((await names.facts([ID])).get(ID)?.name).toBe('web-1');
    expect(calls).toBe(2);
  });

  it('an answer that comes after the list stopped waiting still reaches the list', async () => {
    const socket = await fakeDaemon((_req, res) => {
      setTimeout(() => res.end(JSON.stringify([container])), RUNTIME_WAIT_MS + 200);
    });
    let learned!: () => void;
    const told = new Promise<void>((resolve) => (learned = resolve));
    const names = new RuntimeNames(socket, log, () => learned());
    cleanups.push(() => names.dispose());
    expect((await names.facts([ID])).size).toBe(0);
    await told;
    expect((await names.facts([ID])).get(ID)?.name).toBe('web-1');
  });

  it('without a socket answers at once with nothing', async () => {
    const t0 = performance.now();
    const facts = await new RuntimeNames('/nonexistent/docker.sock', log).facts([ID]);
    expect(facts.size).toBe(0);
    expect(performance.now() - t0).toBeLessThan(STALL_BOUND_MS);
  });
});

describe('parseContainerList', () => {
  it('skips what does not look like a container and falls back to the short id', () => {
    const list = parseContainerList([
      null,
      7,
      { Id: 'short' },
      { Id: ID },
      { Id: 'd'.repeat(64), Names: [42, '/x'], Labels: null },
    ]);
    expect([...list.keys()]).toEqual([ID, 'd'.repeat(64)]);
    expect(list.get(ID)?.name).toBe(ID.slice(0, 12));
    expect(list.get('d'.repeat(64))?.name).toBe('x');
  });
  it('refuses a non-list', () => {
    expect(() => parseContainerList({})).toThrow(/not a list/);
  });
});
