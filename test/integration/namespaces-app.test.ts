// The namespace contract through the real server (createApp: auth, JSON body parsing, error handler, and the
// /ws/events upgrade), as a browser would use it: create, see, watch, delete — leaving nothing behind.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mount, MountDiff, MountTable, Namespace, NamespaceList } from '../../shared/api.js';
import type { EventsServerMessage } from '../../shared/events.js';
import { mountsUnder, waitFor } from '../helpers/kernel.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.close();
});

describe('/api/namespaces through the real app', () => {
  it('needs the token', async () => {
    expect((await fetch(`${srv.base}/api/namespaces`)).status).toBe(401);
  });

  it('creates, lists, shows, diffs, watches and deletes a namespace', async () => {
    const created = await srv.api('/api/namespaces', {
      method: 'POST',
      body: JSON.stringify({ type: 'mnt', name: 'app-demo' }),
    });
    expect(created.status).toBe(201);
    const ns = (await created.json()) as Namespace;
    try {
      expect(ns.nsfs).toHaveLength(1);
      const list = (await (await srv.api('/api/namespaces')).json()) as NamespaceList;
      expect(list.namespaces.find((n) => n.id === ns.id)).toMatchObject({ nprocs: 0, nsfs: ns.nsfs });
      const self = list.namespaces.find((n) => n.type === 'mnt' && n.self) as Namespace;

      const table = (await (await srv.api(`/api/namespaces/${ns.id}/mounts`)).json()) as MountTable;
      expect(table.namespace.id).toBe(ns.id);
      expect(table.mounts.some((m: Mount) => m.target === '/')).toBe(true);
      const diff = (await (await srv.api(`/api/namespaces/${ns.id}/diff/${self.id}`)).json()) as MountDiff;
      // Created as a copy of the server's namespace, private: the same mounts, different propagation at most.
      expect(diff.onlyA.filter((m) => m.fstype !== 'nsfs')).toEqual([]);

      const ws = srv.ws('/ws/events', { authorization: `Bearer ${srv.token}`, origin: srv.base });
      const seen: EventsServerMessage[] = [];
      ws.on('message', (d) => seen.push(JSON.parse(d.toString()) as EventsServerMessage));
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ type: 'watch', ids: [ns.id] }));
      await waitFor(() => seen.some((m) => m.type === 'mounts' && m.id === ns.id), 'the watched table');
      expect(seen[0]?.type).toBe('namespaces');
      ws.close();
    } finally {
      const gone = await srv.api(`/api/namespaces/${ns.id}`, { method: 'DELETE' });
      expect(gone.status).toBe(204);
    }
    const file = ns.nsfs[0] as string;
    expect(existsSync(file)).toBe(false);
    expect(mountsUnder(path.dirname(file))).toEqual([path.dirname(file)]);
  });

  it("says how long its own scan or read took (Server-Timing), apart from the client's and the network's time", async () => {
    const timing = (res: Response) => /^(\w+);dur=(\d+(?:\.\d+)?)$/.exec(res.headers.get('server-timing') ?? '');
    const t0 = performance.now();
    const list = await srv.api('/api/namespaces');
    await list.arrayBuffer();
    const wall = performance.now() - t0;
    const scan = timing(list);
    expect(scan?.[1]).toBe('scan');
    expect(Number(scan?.[2])).toBeGreaterThan(0);
    expect(Number(scan?.[2])).toBeLessThanOrEqual(wall);
    const self = ((await (await srv.api('/api/namespaces')).json()) as NamespaceList).namespaces.find(
      (n) => n.type === 'mnt' && n.self,
    ) as Namespace;
    const mounts = await srv.api(`/api/namespaces/${self.id}/mounts`);
    await mounts.arrayBuffer();
    expect(timing(mounts)?.[1]).toBe('read');
  });

  it('answers a bad name with 400 BAD_NAME and a bad id with 400 BAD_NAMESPACE_ID', async () => {
    const bad = await srv.api('/api/namespaces', {
      method: 'POST',
      body: JSON.stringify({ type: 'mnt', name: '../x' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_NAME' } });
    const badId = await srv.api('/api/namespaces/mnt:x/mounts');
    expect(await badId.json()).toMatchObject({ error: { code: 'BAD_NAMESPACE_ID' } });
  });
});
