// The ns-dir as another local user would attack it (issues #15.4, #16.7, #15.6): every operation on it applies
// the same checks, a path through someone else's symlink is refused however fast they swap it, and a directory
// that cannot be made says why.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine, type NamespaceEngine } from '../../server/namespaces/engine.js';
import { KernelFixtures, mountsUnder, sh } from '../helpers/kernel.js';
import { startNamespaceApp, type NsApp } from '../helpers/ns-app.js';

const log = createLogger('silent');
const NOBODY = 65534;
/** Creates raced against the symlink swapper: the issue saw 1 of 40 bind a nobody-owned dir. */
const RACED_CREATES = 40;

const k = new KernelFixtures();
const opened: { engine?: NamespaceEngine; app?: NsApp; swapper?: ChildProcess }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    const swapper = o.swapper;
    if (swapper && swapper.exitCode === null && swapper.signalCode === null) {
      const exited = new Promise((resolve) => swapper.once('exit', resolve));
      swapper.kill('SIGKILL');
      await exited; // before its dir is removed: it would keep adding links
    }
    await o.app?.close();
    o.engine?.dispose();
  }
  await k.cleanup();
});

async function serve(nsDir: string): Promise<{ engine: NamespaceEngine; app: NsApp }> {
  const engine = createNamespaceEngine({ nsDir, log });
  const slot: (typeof opened)[number] = { engine };
  opened.push(slot);
  slot.app = await startNamespaceApp(engine);
  return { engine, app: slot.app };
}

/** A root-owned dir others may traverse (mkdtemp makes 0700: nobody could not reach anything inside). */
function traversableBase(): string {
  const base = k.tempDir('nsconsole-nsdir-');
  chmodSync(base, 0o755);
  return base;
}

function isNsfsBound(file: string): boolean {
  return sh('findmnt', ['-rn', '-o', 'FSTYPE', '--mountpoint', file]).trim() === 'nsfs';
}

describe('every operation on the ns-dir applies the same checks', () => {
  it('refuses POST and DELETE alike when --ns-dir is a symlink to a dir holding a persisted namespace (409 NS_DIR_UNSAFE)', async () => {
    const real = k.privateDir();
    const victim = path.join(real, 'victim');
    const id = k.persistMountNs(victim);
    const link = path.join(traversableBase(), 'link');
    symlinkSync(real, link);
    const { app } = await serve(link);

    const del = await app.request(`/api/namespaces/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(409);
    expect(await del.json()).toMatchObject({ error: { code: 'NS_DIR_UNSAFE' } });
    expect(existsSync(victim)).toBe(true);
    expect(isNsfsBound(victim), 'the namespace is still persisted').toBe(true);

    const post = await app.request('/api/namespaces', {
      method: 'POST',
      body: JSON.stringify({ type: 'mnt', name: 'x' }),
    });
    expect(post.status).toBe(409);
    expect(await post.json()).toMatchObject({
      error: { code: 'NS_DIR_UNSAFE', message: expect.stringContaining('symbolic link') },
    });
  });

  it('follows a symlink on the path only when root owns it (as /var/run → /run), and creates and deletes through it', async () => {
    const base = traversableBase();
    mkdirSync(path.join(base, 'real'), { mode: 0o755 });
    symlinkSync('real', path.join(base, 'alias'));
    const { app } = await serve(path.join(base, 'alias', 'ns'));

    const post = await app.request('/api/namespaces', {
      method: 'POST',
      body: JSON.stringify({ type: 'mnt', name: 'via-alias' }),
    });
    expect(post.status).toBe(201);
    const ns = (await post.json()) as { id: string; nsfs: string[] };
    const file = path.join(realpathSync(base), 'real', 'ns', 'via-alias');
    expect(ns.nsfs).toEqual([file]);
    expect(isNsfsBound(file)).toBe(true);
    expect((await app.request(`/api/namespaces/${ns.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a path through a symlink another user owns, for create and delete', async () => {
    const base = traversableBase();
    mkdirSync(path.join(base, 'real', 'ns'), { recursive: true, mode: 0o700 });
    const pub = path.join(base, 'pub');
    mkdirSync(pub);
    chmodSync(pub, 0o1777); // like /tmp: anyone may add names, only their owner may replace them
    symlinkSync(path.join(base, 'real'), path.join(pub, 'link'));
    lchownSync(path.join(pub, 'link'), NOBODY, NOBODY);
    const { engine } = await serve(path.join(pub, 'link', 'ns'));
    await expect(engine.create({ type: 'mnt', name: 'x' })).rejects.toMatchObject({
      code: 'NS_DIR_UNSAFE',
      message: expect.stringContaining(`symbolic link owned by uid ${NOBODY}`),
    });
    expect(readdirSync(path.join(base, 'real', 'ns'))).toEqual([]);
  });
});

/**
 * As nobody: swap `pub/link` between a root-owned dir (passes every check) and a nobody-owned one, as fast as
 * rename(2) goes, until killed. Prints READY once the link exists. Argv: pub, good target, evil target.
 */
const SWAPPER = `
const fs = require('node:fs');
const [pub, good, evil] = process.argv.slice(1);
const link = pub + '/link';
fs.symlinkSync(good, link);
console.log('READY');
for (let i = 0; ; i++) {
  const tmp = pub + '/next' + (i % 2);
  try { fs.unlinkSync(tmp); } catch { /* absent on the first two rounds */ }
  fs.symlinkSync(i % 2 ? evil : good, tmp);
  fs.renameSync(tmp, link);
}`;

async function startSwapper(pub: string, good: string, evil: string): Promise<ChildProcess> {
  const child = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      '--',
      process.execPath,
      '-e',
      SWAPPER,
      pub,
      good,
      evil,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  opened.push({ swapper: child });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line === 'READY' && resolve());
    child.once('exit', (code) => reject(new Error(`swapper exited early (${code})`)));
  });
  return child;
}

describe('a raced symlink swap by another user', () => {
  it(`never makes root bind a nobody-owned dir: ${RACED_CREATES} creates while nobody swaps the link`, async () => {
    const base = traversableBase();
    const good = path.join(base, 'good');
    mkdirSync(path.join(good, 'ns'), { recursive: true, mode: 0o700 });
    chmodSync(good, 0o755);
    const evil = path.join(base, 'evil');
    mkdirSync(path.join(evil, 'ns'), { recursive: true });
    chownSync(evil, NOBODY, NOBODY);
    chownSync(path.join(evil, 'ns'), NOBODY, NOBODY);
    chmodSync(path.join(evil, 'ns'), 0o700);
    const pub = path.join(base, 'pub');
    mkdirSync(pub);
    chmodSync(pub, 0o1777);
    await startSwapper(pub, good, evil);
    const { engine } = await serve(path.join(pub, 'link', 'ns'));

    const outcomes: string[] = [];
    for (let i = 0; i < RACED_CREATES; i++) {
      const code = await engine.create({ type: 'mnt', name: `race${i}` }).then(
        () => 'created',
        (e: { code?: string }) => e.code ?? 'thrown',
      );
      outcomes.push(code);
      expect(mountsUnder(evil), `create ${i}: root mounted something in the nobody-owned dir`).toEqual([]);
    }
    expect(new Set(outcomes)).toEqual(new Set(['NS_DIR_UNSAFE']));
    expect(readdirSync(path.join(evil, 'ns'))).toEqual([]);
    expect(readdirSync(path.join(good, 'ns'))).toEqual([]);
  });
});

describe('an ns-dir that cannot be made', () => {
  it('names a read-only file system as the cause, not ENOENT', async () => {
    const ro = path.join(k.tempDir(), 'ro');
    mkdirSync(ro);
    sh('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro]);
    const { engine } = await serve(path.join(ro, 'nsconsole', 'ns'));
    const err = await engine.create({ type: 'mnt', name: 'x' }).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    expect(err).toMatchObject({ code: 'KERNEL_ERROR', message: expect.stringMatching(/read-only file system/) });
    expect(err?.message).not.toMatch(/ENOENT/);
  });
});
