// Why docker-compose.yml mounts no host directory at the ns-dir (issue #10.4): a persisted mount namespace is
// an nsfs bind, and the kernel never propagates one — binding it on a mount that has a peer elsewhere (what an
// `rshared` volume or Kubernetes' `Bidirectional` makes) fails with EINVAL, so no propagation setting can carry
// it from a container to the host. Only the mount namespace that made the bind holds it. This test pins that
// kernel rule: if a kernel ever relaxes it, the compose file can share the ns-dir with the host again.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const isRoot = process.getuid?.() === 0;
/** 10 ms apart: a dead namespace's mounts go within milliseconds; 5 s is room for a loaded machine. */
const PEER_GONE_POLLS = 500;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function sh(cmd: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** A process sleeping in a new mount namespace (pinned to one CPU: 6.18 hands out namespace ids per CPU). */
function sleeper(...unshareArgs: string[]): ChildProcess {
  const p = spawn('taskset', ['-c', '0', 'unshare', '-m', ...unshareArgs, 'sleep', '60'], { stdio: 'ignore' });
  cleanups.push(() => p.kill('SIGKILL'));
  return p;
}

async function inOwnMountNs(p: ChildProcess): Promise<void> {
  const self = spawnSync('readlink', ['/proc/self/ns/mnt'], { encoding: 'utf8' }).stdout;
  for (let i = 0; i < 500; i++) {
    const theirs = spawnSync('readlink', [`/proc/${p.pid}/ns/mnt`], { encoding: 'utf8' }).stdout;
    if (theirs && theirs !== self) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the sleeper never reached its own mount namespace');
}

describe.runIf(isRoot)('persisting a mount namespace on a shared mount', () => {
  it('fails with EINVAL while the mount has a peer in another namespace, and works once it has none', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nsc-propagation-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    expect(sh('mount', '--bind', dir, dir).status).toBe(0);
    cleanups.push(() => void sh('umount', '--recursive', '--lazy', dir));
    expect(sh('mount', '--make-shared', dir).status).toBe(0);
    const file = path.join(dir, 'ns');
    writeFileSync(file, '');

    // The peer: the container's copy of an rshared volume, as seen from the host (or the other way round).
    const peer = sleeper('--propagation', 'unchanged');
    // The namespace to persist, made private so that the only peer of `dir` is the one above.
    const target = sleeper('--propagation', 'private');
    await Promise.all([inOwnMountNs(peer), inOwnMountNs(target)]);

    const shared = sh('mount', '--bind', `/proc/${target.pid}/ns/mnt`, file);
    expect(shared.status).not.toBe(0);
    expect(shared.stderr).toMatch(/wrong fs type|invalid argument/i); // mount(8)'s words for EINVAL

    peer.kill('SIGKILL');
    await new Promise<void>((resolve) => (peer.exitCode !== null ? resolve() : peer.once('exit', () => resolve())));
    // The peer's namespace is torn down as its last process exits; poll until its mounts are gone.
    let alone = sh('mount', '--bind', `/proc/${target.pid}/ns/mnt`, file);
    for (let i = 0; i < PEER_GONE_POLLS && alone.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      alone = sh('mount', '--bind', `/proc/${target.pid}/ns/mnt`, file);
    }
    expect(alone.status, alone.stderr).toBe(0);
  });
});
