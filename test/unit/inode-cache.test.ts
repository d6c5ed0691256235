// Scans between full ones read only the processes the kernel named (a ProcessDelta): the rest keep what the
// last scan read. Against the real /proc, with the real pool, counting which PIDs each scan read.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { NS_TYPES } from '../../shared/api.js';
import { createLogger } from '../../server/log.js';
import { InodeCache, scanProcesses } from '../../server/namespaces/discovery.js';
import { readNsLink } from '../../server/proc/ns-links.js';
import { ScanPool } from '../../server/proc/scan-pool.js';

const log = createLogger('silent');
const children: ChildProcess[] = [];
const pools: ScanPool[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const p of pools.splice(0)) p.dispose();
});

/** The real pool, remembering which PIDs each scan asked it to read. */
function countingPool(): { pool: ScanPool; asked: number[][] } {
  const real = new ScanPool(log);
  pools.push(real);
  const asked: number[][] = [];
  const pool = Object.assign(Object.create(real) as ScanPool, {
    inodes: (pids: readonly number[], types: readonly string[]) => {
      asked.push([...pids]);
      return real.inodes(pids, types);
    },
  });
  return { pool, asked };
}

async function waitForNs(pid: number, type: 'uts', not: string | null): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const id = readNsLink(pid, type);
    if (id && id !== not) return id;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`PID ${pid} never left ${not}`);
}

describe('scans with a process delta', () => {
  it('read only the named and the new processes, and see what they changed', async () => {
    const { pool, asked } = countingPool();
    const cache = new InodeCache();
    const since = performance.now();
    const full = await scanProcesses(NS_TYPES, new Set(), pool, cache);
    const everyone = asked[0]?.length ?? 0;
    expect(everyone).toBeGreaterThan(1);
    expect([...full.members.values()].some((pids) => pids.includes(process.pid))).toBe(true);

    // A process that leaves for a UTS namespace of its own by exec'ing (what `unshare` does): the kernel names it.
    const hostUts = readNsLink(process.pid, 'uts');
    const child = spawn('unshare', ['--uts', 'sleep', '60'], { stdio: 'ignore' });
    children.push(child);
    const utsId = await waitForNs(child.pid as number, 'uts', hostUts);
    const scan = await scanProcesses(NS_TYPES, new Set(), pool, cache, { since, pids: new Set([child.pid as number]) });
    const readThisTime = asked[1] ?? [];
    expect(readThisTime).toContain(child.pid);
    // Everyone else kept what the full scan read (a busy machine may have started a few processes meanwhile).
    expect(readThisTime.length).toBeLessThan(everyone / 2);
    expect(scan.members.get(utsId)).toEqual([child.pid]);
    expect(scan.members.get(hostUts as string)).toContain(process.pid);
  });

  it('read everything when the delta is unknown or older than what was kept', async () => {
    const { pool, asked } = countingPool();
    const cache = new InodeCache();
    await scanProcesses(NS_TYPES, new Set(), pool, cache);
    await scanProcesses(NS_TYPES, new Set(), pool, cache, { since: 0, pids: null });
    // A delta that starts after the kept scan started cannot say what changed before it.
    await scanProcesses(NS_TYPES, new Set(), pool, cache, { since: performance.now() + 1000, pids: new Set() });
    const [first, lost, later] = asked.map((a) => a.length) as [number, number, number];
    expect(lost).toBeGreaterThan(first / 2);
    expect(later).toBeGreaterThan(first / 2);
  });

  it('a scan of some types only reads everyone and leaves the cache alone', async () => {
    const { pool, asked } = countingPool();
    const cache = new InodeCache();
    const since = performance.now();
    await scanProcesses(['mnt'], new Set(), pool, cache);
    await scanProcesses(NS_TYPES, new Set(), pool, cache, { since, pids: new Set() });
    const [some, all] = asked.map((a) => a.length) as [number, number];
    expect(all).toBeGreaterThan(some / 2);
  });
});
