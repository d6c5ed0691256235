// Shells inside real namespaces (a real `unshare --mount` process holds one), process targets, and the live
// "where" header following the shell into and out of a namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WhereInfo } from '../../shared/protocol.js';
import { AppError } from '../../server/errors.js';
import { nsfsDev, openNamespace } from '../../server/kernel/nsfs.js';
import { createLauncher, type NamespaceEntry, type NamespaceEntryResolver } from '../../server/terminals/launch.js';
import { startTerminalHarness, type TerminalHarness } from '../helpers/terminal-harness.js';
import { TermClient } from '../helpers/term-client.js';
import { waitUntil } from '../helpers/proc.js';

const mntOf = (pid: number | 'self') => readlinkSync(`/proc/${pid}/ns/mnt`).replace(/^mnt:\[(\d+)\]$/, 'mnt:$1');

const clients: TermClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.dispose();
});

describe('namespace and process targets', () => {
  let holder: ChildProcess;
  let holderPid: number;
  let holderMnt: string;
  let h: TerminalHarness;

  beforeAll(async () => {
    holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '1000'], { stdio: 'ignore' });
    holderPid = holder.pid!;
    await waitUntil(() => {
      try {
        return mntOf(holderPid) !== mntOf('self');
      } catch {
        return false;
      }
    }, 'the namespace holder');
    holderMnt = mntOf(holderPid);
    // A tiny real engine: it knows the one namespace the holder keeps, and answers with it opened and verified.
    const engine: NamespaceEntryResolver = {
      async entryFor(id): Promise<NamespaceEntry> {
        if (id !== holderMnt) throw new AppError('NS_NOT_FOUND', `no namespace ${id}`);
        if (mntOf(holderPid) !== id) throw new AppError('TARGET_CHANGED', 'the holder is in another namespace now');
        const fd = openNamespace(`/proc/${holderPid}/ns/mnt`, 'mnt', Number(id.slice(4)), {
          follow: true,
          dev: nsfsDev(),
        });
        if (fd === null) throw new AppError('TARGET_CHANGED', 'the holder is in another namespace now');
        return { type: 'mnt', id, fd };
      },
    };
    h = await startTerminalHarness({ engine });
  });
  afterAll(async () => {
    await h.close();
    holder.kill('SIGKILL');
  });

  async function shellIn(target: object): Promise<TermClient> {
    const { id } = await h.createSession({ target });
    const c = new TermClient(h.openWs(id));
    clients.push(c);
    await c.waitForMessage('hello');
    return c;
  }

  it('opens a shell inside a mount namespace (entered by a verified fd), cwd /, target in the environment', async () => {
    const c = await shellIn({ kind: 'namespace', id: holderMnt });
    c.type('echo "ns=$(readlink /proc/$$/ns/mnt) cwd=$(pwd) target=$NSCONSOLE_TARGET"\r');
    const inode = holderMnt.slice('mnt:'.length);
    await c.waitForText(`ns=mnt:[${inode}] cwd=/ target=${holderMnt}`);
    const where = await c.waitForMessage('where');
    expect(where.where.mnt).toBe(holderMnt);
  });

  it('opens a shell in all namespaces of a process', async () => {
    const c = await shellIn({ kind: 'process', pid: holderPid });
    c.type('echo "ns=$(readlink /proc/$$/ns/mnt) target=$NSCONSOLE_TARGET"\r');
    await c.waitForText(`ns=mnt:[${holderMnt.slice(4)}] target=pid ${holderPid}`);
  });

  it('answers 404 for a namespace or process that does not exist', async () => {
    const ns = await h.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'namespace', id: 'mnt:1' } }),
    });
    expect(ns.status).toBe(404);
    expect(((await ns.json()) as { error: { code: string } }).error.code).toBe('NS_NOT_FOUND');
    const proc = await h.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target: { kind: 'process', pid: 4_000_000 } }),
    });
    expect(proc.status).toBe(404);
    expect(((await proc.json()) as { error: { code: string } }).error.code).toBe('PROCESS_NOT_FOUND');
  });

  it('re-checks a process target right before spawning', async () => {
    const short = spawn('sleep', ['1000'], { stdio: 'ignore' });
    const launch = createLauncher({
      shell: '/bin/bash',
      engine: { entryFor: () => Promise.reject(new Error('unused')) },
    });
    const spec = await launch({ kind: 'process', pid: short.pid! });
    // It is in all of the server's namespaces: nothing to enter (nsenter --all would enter the same ones).
    expect(spec.args).toEqual(['--wdns=/', '--', '/bin/bash']);
    expect(() => spec.verify?.()).not.toThrow();
    short.kill('SIGKILL');
    await new Promise((r) => short.once('exit', r));
    expect(() => spec.verify?.()).toThrow(/has exited/);
    spec.started?.(null);
  });

  it('follows the foreground process into a new mount namespace and back (where)', async () => {
    const c = await shellIn({ kind: 'host' });
    const wheres = () =>
      c.messages.filter((m): m is { type: 'where'; where: WhereInfo } => m.type === 'where').map((m) => m.where);
    await c.waitFor(() => wheres().length > 0, 'the first where');
    expect(wheres()[0]?.mnt).toBe(mntOf('self'));
    c.type('unshare --mount bash --norc\r');
    await c.waitFor(() => wheres().some((w) => w.mnt !== mntOf('self')), 'a where in a new namespace');
    const inside = wheres().at(-1)!;
    expect(inside.command).toBe('bash');
    c.type('exit\r');
    await c.waitFor(() => wheres().at(-1)?.mnt === mntOf('self'), 'a where back outside');
  });
});
