// POST/DELETE /api/namespaces against the kernel: what is left behind, what is refused, and why.
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace } from '../../shared/api.js';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine, type NamespaceEngine } from '../../server/namespaces/engine.js';
import { allowedCpus, assertSafeNsDir, explainKernelError } from '../../server/namespaces/lifecycle.js';
import { chmod, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { parseMountinfo } from '../../server/mounts/mountinfo.js';
import { KernelFixtures, mountsUnder, sh } from '../helpers/kernel.js';
import { startNamespaceApp, type NsApp } from '../helpers/ns-app.js';
import { readFileSync } from 'node:fs';

const log = createLogger('silent');
/** per test (afterEach) */
const k = new KernelFixtures();
/** for the whole file (afterAll) */
const suite = new KernelFixtures();
let nsDir: string;
let engine: NamespaceEngine;
let app: NsApp;

beforeAll(async () => {
  // The ns-dir does not exist yet: the engine creates it and makes it a private bind mount of itself.
  nsDir = path.join(suite.tempDir('nsconsole-lifecycle-'), 'ns');
  engine = createNamespaceEngine({ nsDir, log });
  app = await startNamespaceApp(engine);
});
afterEach(() => k.cleanup());
afterAll(async () => {
  await app?.close();
  engine?.dispose();
  await k.cleanup();
  await suite.cleanup();
});

const post = (body: unknown) => app.request('/api/namespaces', { method: 'POST', body: JSON.stringify(body) });
const del = (id: string) => app.request(`/api/namespaces/${id}`, { method: 'DELETE' });

function topMountAt(target: string) {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.target === target)
    .at(-1);
}

describe('POST /api/namespaces', () => {
  it('persists a new mount namespace in the ns-dir, made a private mount point, and DELETE leaves nothing behind', async () => {
    const res = await post({ type: 'mnt', name: 'demo' });
    expect(res.status).toBe(201);
    const ns = (await res.json()) as Namespace;
    const dir = realpathSync(nsDir);
    const file = path.join(dir, 'demo');
    expect(ns).toMatchObject({ type: 'mnt', nprocs: 0, pid: null, nsfs: [file], self: false });
    expect(ns.id).toMatch(/^mnt:\d+$/);
    expect(topMountAt(dir)?.propagation).toBe('private');
    expect(topMountAt(file)).toMatchObject({ fstype: 'nsfs', root: `mnt:[${ns.inode}]` });
    // It is a real namespace: one can enter it and its table is readable.
    expect(sh('nsenter', [`--mount=${file}`, '--', 'true'])).toBe('');
    expect((await engine.mounts(ns.id)).mounts.length).toBeGreaterThan(0);

    const gone = await del(ns.id);
    expect(gone.status).toBe(204);
    expect(existsSync(file)).toBe(false);
    expect(mountsUnder(dir)).toEqual([dir]);
    expect((await engine.list('mnt')).namespaces.some((n) => n.id === ns.id)).toBe(false);
    expect((await del(ns.id)).status).toBe(404);
  });

  it('refuses an existing name with 409 NS_EXISTS', async () => {
    const first = (await (await post({ type: 'mnt', name: 'twice' })).json()) as Namespace;
    try {
      const again = await post({ type: 'mnt', name: 'twice' });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ error: { code: 'NS_EXISTS' } });
    } finally {
      await engine.remove(first.id);
    }
  });

  it.each(['.', '..', '.hidden', 'a/b', '../escape', '', 'x'.repeat(65), 'sp ace', 'nul\0'])(
    'answers 400 BAD_NAME for %j',
    async (name) => {
      const res = await post({ type: 'mnt', name });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'BAD_NAME' } });
    },
  );

  it('answers 400 for other types, unknown fields and a missing body', async () => {
    for (const body of [{ type: 'net', name: 'x' }, { type: 'mnt', name: 'x', extra: 1 }, {}]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    await expect(engine.create({ type: 'mnt', name: '..' })).rejects.toMatchObject({ code: 'BAD_NAME' });
  });

  it('persists with shared propagation when asked', async () => {
    const ns = await engine.create({ type: 'mnt', name: 'shared-one', propagation: 'shared' });
    try {
      const root = (await engine.mounts(ns.id)).mounts.find((m) => m.target === '/');
      expect(root?.propagation).toBe('shared');
    } finally {
      await engine.remove(ns.id);
    }
  });

  it('is found again by a new engine (a server restart)', async () => {
    const ns = await engine.create({ type: 'mnt', name: 'survivor' });
    const restarted = createNamespaceEngine({ nsDir, log });
    try {
      expect((await restarted.list('mnt')).namespaces.find((n) => n.id === ns.id)).toMatchObject({
        nprocs: 0,
        nsfs: [path.join(realpathSync(nsDir), 'survivor')],
      });
      await restarted.remove(ns.id);
    } finally {
      restarted.dispose();
    }
  });

  it('makes a shared ns-dir private instead of failing with EINVAL', async () => {
    const dir = path.join(k.tempDir(), 'shared-ns');
    mkdirSync(dir);
    sh('mount', ['--bind', '--make-shared', dir, dir]);
    const other = createNamespaceEngine({ nsDir: dir, log });
    try {
      const ns = await other.create({ type: 'mnt', name: 'x' });
      expect(topMountAt(dir)?.propagation).toBe('private');
      await other.remove(ns.id);
    } finally {
      other.dispose();
    }
  });
});

describe('DELETE /api/namespaces/:id', () => {
  it('answers 409 NS_NOT_OURS for a namespace not persisted under the ns-dir', async () => {
    const elsewhere = path.join(k.privateDir(), 'elsewhere');
    const id = k.persistMountNs(elsewhere);
    const res = await del(id);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: 'NS_NOT_OURS' } });
    expect(existsSync(elsewhere)).toBe(true);
    expect((await del(engine.selfId('mnt'))).status).toBe(409);
  });

  it('answers 400 for a malformed id and 404 for an unknown one', async () => {
    expect((await del('mnt:0')).status).toBe(400);
    expect((await del('mnt:1')).status).toBe(404);
  });
});

describe('allowedCpus', () => {
  it('reads every CPU of Cpus_allowed_list, ranges and singles, and nothing from a status without one', () => {
    expect(allowedCpus('Name:\tnode\nCpus_allowed_list:\t0-2,5,7-8\nMems_allowed:\t1\n')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(allowedCpus('Cpus_allowed_list:\t3\n')).toEqual([3]);
    expect(allowedCpus('Name:\tnode\n')).toEqual([]);
  });
});

describe('explainKernelError', () => {
  it('turns errno texts into explanations', () => {
    expect(
      explainKernelError('unshare: mount /proc/1/ns/mnt on /x/y failed: Invalid argument', 'persisting', '/x'),
    ).toMatchObject({
      code: 'KERNEL_ERROR',
      message: expect.stringContaining('sits on a shared mount'),
    });
    expect(explainKernelError('umount: /x/y: target is busy.', 'unmounting', '/x')).toMatchObject({
      code: 'NS_BUSY',
      status: 409,
    });
    expect(explainKernelError('mount: /x: permission denied.', 'mounting', '/x')).toMatchObject({
      code: 'NOT_PRIVILEGED',
      status: 403,
    });
  });
});

describe('assertSafeNsDir', () => {
  it('refuses an ns-dir that others could swap for a symlink, and accepts a private one under /tmp', async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'nsconsole-safe-'));
    try {
      await mkdir(path.join(base, 'ok'), { mode: 0o700 });
      await expect(assertSafeNsDir(path.join(base, 'ok'))).resolves.toBeUndefined();
      await symlink('/etc', path.join(base, 'link'));
      await expect(assertSafeNsDir(path.join(base, 'link'))).rejects.toThrow(/symbolic link/);
      await mkdir(path.join(base, 'open'));
      await chmod(path.join(base, 'open'), 0o777);
      await expect(assertSafeNsDir(path.join(base, 'open'))).rejects.toThrow(/writable by group or others/);
      await mkdir(path.join(base, 'open', 'inner'), { mode: 0o700 });
      await expect(assertSafeNsDir(path.join(base, 'open', 'inner'))).rejects.toThrow(
        /writable by others and not sticky/,
      );
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
