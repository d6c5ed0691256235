// Where libc or the kernel lacks the new mount API (glibc < 2.36, Linux < 5.12), the ns-dir is bound and made
// private with mount(8) on our fd's /proc path (--no-canonicalize) and unmounted with umount(8) the same way:
// the same results as the fd-based path, still without re-resolving the ns-dir's path string.
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../server/log.js';
import { parseMountinfo } from '../../server/mounts/mountinfo.js';
import { createNamespaceEngine, type NamespaceEngine } from '../../server/namespaces/engine.js';
import { KernelFixtures, sh } from '../helpers/kernel.js';

vi.mock('../../server/kernel/mount-api.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../server/kernel/mount-api.js')>()),
  loadMountApi: () => null,
}));

const log = createLogger('silent');
const k = new KernelFixtures();
const engines: NamespaceEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) e.dispose();
  await k.cleanup();
});

function topMountAt(target: string) {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.target === target)
    .at(-1);
}

describe('ns-dir without the mount API', () => {
  it.each([
    ['a new ns-dir (bound onto itself, then made private)', false],
    ['a shared mount point (made private)', true],
  ])('persists and deletes in %s', async (_what, shared) => {
    const nsDir = path.join(k.tempDir(), 'ns');
    if (shared) {
      mkdirSync(nsDir, { mode: 0o700 });
      sh('mount', ['--bind', '--make-shared', nsDir, nsDir]);
    }
    const engine = createNamespaceEngine({ nsDir, log });
    engines.push(engine);
    const ns = await engine.create({ type: 'mnt', name: 'fallback' });
    const dir = realpathSync(nsDir);
    const file = path.join(dir, 'fallback');
    expect(topMountAt(dir)?.propagation).toBe('private');
    expect(topMountAt(file)).toMatchObject({ fstype: 'nsfs', root: `mnt:[${ns.inode}]` });
    await engine.remove(ns.id);
    expect(existsSync(file)).toBe(false);
    expect(topMountAt(file)).toBeUndefined();
  });
});
