// A namespace deleted while a shell is inside it: the delete succeeds (its nsfs bind is gone), the shell keeps
// working in it, the list shows it held by that process only, and it vanishes when the shell ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import type { Namespace } from '../../shared/api.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.close();
});

async function find(id: string): Promise<Namespace | undefined> {
  const body = (await (await srv.api('/api/namespaces?type=mnt')).json()) as { namespaces: Namespace[] };
  return body.namespaces.find((n) => n.id === id);
}

describe('deleting a namespace a shell is in', () => {
  it('keeps the shell working and the namespace alive until the shell ends', async () => {
    const created = await srv.api('/api/namespaces', {
      method: 'POST',
      body: JSON.stringify({ type: 'mnt', name: 'held' }),
    });
    expect(created.status).toBe(201);
    const ns = (await created.json()) as Namespace;
    const file = `${srv.nsDir}/held`;
    const session = await srv.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'namespace', id: ns.id }, cols: 80, rows: 24 }),
    });
    expect(session.status).toBe(201);
    const { id: sessionId, pid } = (await session.json()) as { id: string; pid: number };
    const ws = srv.ws(`/ws/sessions/${sessionId}`);
    try {
      let output = '';
      ws.on('message', (d: Buffer, bin: boolean) => bin && (output += d.toString('utf8')));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send(Buffer.from('readlink /proc/$$/ns/mnt\r'));
      const inode = ns.id.split(':')[1];
      await expect.poll(() => output.includes(`mnt:[${inode}]`), { timeout: 10_000 }).toBe(true);

      expect((await srv.api(`/api/namespaces/${ns.id}`, { method: 'DELETE' })).status).toBe(204);
      expect(existsSync(file)).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(file);
      await expect.poll(async () => (await find(ns.id))?.nsfs, { timeout: 5000 }).toEqual([]);
      expect((await find(ns.id))?.nprocs).toBeGreaterThanOrEqual(1);

      ws.send(Buffer.from('echo alive-$((6*7)) $(readlink /proc/$$/ns/mnt)\r'));
      await expect.poll(() => output.includes(`alive-42 mnt:[${inode}]`), { timeout: 10_000 }).toBe(true);

      expect((await srv.api(`/api/sessions/${sessionId}`, { method: 'DELETE' })).status).toBe(204);
      await expect.poll(async () => (await find(ns.id)) === undefined, { timeout: 10_000 }).toBe(true);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
    } finally {
      ws.terminate();
      await srv.api(`/api/sessions/${sessionId}`, { method: 'DELETE' });
    }
  });
});
