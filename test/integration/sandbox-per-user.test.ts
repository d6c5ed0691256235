// One sandbox per user (issue #14 with the labs identity of #12): with --sandbox and --auth-header, each user
// named by the trusted proxy (loopback by default) gets a sandbox of their own; their shells, /api/sandbox, the
// namespace list, the event stream and entering a namespace by id all stay inside it.
import { afterEach, describe, expect, test } from 'vitest';
import type WebSocket from 'ws';
import { sandboxCgroupDirs } from '../../server/sandbox/cgroups.js';
import type { TestServer } from '../helpers/server.js';
import { startServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/proc.js';
import {
  asUser,
  hostPidsWithUidIn,
  hostSandboxMounts,
  json,
  SANDBOX_USER_HEADER,
  sandboxConfig,
  SandboxShell,
} from '../helpers/sandbox.js';

const UID_START = 1_310_000;
const RANGE = 2 * 65536;
const USER_HEADER = SANDBOX_USER_HEADER;

/** The first namespace list an event stream sends. */
function firstList(ws: WebSocket): Promise<string[]> {
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type: string; namespaces?: { id: string }[] };
      if (msg.type === 'namespaces') resolve((msg.namespaces ?? []).map((n) => n.id));
    });
    ws.once('error', reject);
    ws.once('close', () => reject(new Error('event stream closed before a namespace list')));
  });
}

type Ns = { namespaces: { id: string; type: string }[] };

describe('one sandbox per user', () => {
  let server: TestServer | undefined;
  const shells: SandboxShell[] = [];
  const sockets: WebSocket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.terminate();
    for (const s of shells.splice(0)) s.dispose();
    await server?.close(); // ends every session; the sandboxes die with the server
    server = undefined;
    await waitUntil(() => hostPidsWithUidIn(UID_START, RANGE).length === 0, 'sandbox processes to exit');
    expect(sandboxCgroupDirs()).toEqual([]);
    expect(hostSandboxMounts()).toEqual([]);
  }, 30_000);

  test('alice and bob each get their own sandbox: shells, /api/sandbox, namespace lists, event streams, entry by id', async () => {
    server = await startServer({ sandbox: sandboxConfig(UID_START), shell: '/bin/bash', authHeader: USER_HEADER });
    const alice = asUser(server, 'alice');
    const bob = asUser(server, 'bob');
    expect((await json<{ user: string }>(alice.api('/api/whoami'))).user).toBe('alice');

    const [aShell, bShell] = await Promise.all([SandboxShell.open(alice), SandboxShell.open(bob)]);
    shells.push(aShell, bShell);
    const probe = 'echo "$(hostname) $(readlink /proc/self/ns/user) $(readlink /proc/self/ns/mnt)"';
    const [aHost, aUser, aMnt] = (await aShell.run(probe)).output.split(' ');
    const [bHost, bUser, bMnt] = (await bShell.run(probe)).output.split(' ');
    expect(aHost).not.toBe(bHost);
    expect(aUser).not.toBe(bUser);
    expect(aMnt).not.toBe(bMnt);

    // GET /api/sandbox names the caller's own
    const aInfo = await json<{ id: string; hostname: string; uidBase: number }>(alice.api('/api/sandbox'));
    const bInfo = await json<{ id: string; hostname: string; uidBase: number }>(bob.api('/api/sandbox'));
    expect(aInfo.hostname).toBe(aHost);
    expect(bInfo.hostname).toBe(bHost);
    expect(aInfo.id).not.toBe(bInfo.id);
    expect(aInfo.uidBase).not.toBe(bInfo.uidBase);

    // namespace lists: each shows its own sandbox's namespaces, none of the other's
    const aliceMnt = `mnt:${/\[(\d+)\]/.exec(aMnt ?? '')?.[1]}`;
    const bobMnt = `mnt:${/\[(\d+)\]/.exec(bMnt ?? '')?.[1]}`;
    const aIds = (await json<Ns>(alice.api('/api/namespaces'))).namespaces.map((n) => n.id);
    const bIds = (await json<Ns>(bob.api('/api/namespaces'))).namespaces.map((n) => n.id);
    expect(aIds).toContain(aliceMnt);
    expect(bIds).toContain(bobMnt);
    expect(aIds.filter((id) => bIds.includes(id))).toEqual([]);

    // the event stream is scoped per socket the same way
    const aWs = alice.ws('/ws/events');
    const bWs = bob.ws('/ws/events');
    sockets.push(aWs, bWs);
    const [aLive, bLive] = await Promise.all([firstList(aWs), firstList(bWs)]);
    expect(aLive).toContain(aliceMnt);
    expect(aLive).not.toContain(bobMnt);
    expect(bLive).toContain(bobMnt);
    expect(bLive).not.toContain(aliceMnt);

    // bob cannot enter, read or delete alice's namespace by id: it does not exist for him
    const enter = await bob.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'namespace', id: aliceMnt } }),
    });
    expect(enter.status).toBe(404);
    expect(((await enter.json()) as { error: { code: string } }).error.code).toBe('NS_NOT_FOUND');
    expect((await bob.api(`/api/namespaces/${aliceMnt}/mounts`)).status).toBe(404);
    expect((await bob.api(`/api/namespaces/${aliceMnt}`, { method: 'DELETE' })).status).toBe(404);
    // while alice enters her own
    const own = await SandboxShell.open(alice, { kind: 'namespace', id: aliceMnt });
    shells.push(own);
    expect((await own.run('hostname')).output).toBe(aHost);

    // bob's reset is his alone: alice's shell keeps running in her sandbox
    const bReset = await json<{ id: string }>(bob.api('/api/sandbox/reset', { method: 'POST' }));
    expect(bReset.id).not.toBe(bInfo.id);
    await bShell.client.waitForMessage('exit', 10_000);
    expect((await aShell.run('hostname')).output).toBe(aHost);
    expect((await json<{ id: string }>(alice.api('/api/sandbox'))).id).toBe(aInfo.id);

    for (const [who, s] of [
      [alice, aShell],
      [bob, bShell],
      [alice, own],
    ] as const) {
      const res = await who.api(`/api/sessions/${s.sessionId}`, { method: 'DELETE' });
      expect([204, 404]).toContain(res.status); // bob's shell ended with his reset
    }
  }, 60_000);
});
