// What the live list's budget is charged for a scan (scan-cost.ts): the scan's own jobs and steps, not what the
// server's threads did besides while it ran — a terminal flood relayed on the main thread, an admin's big mount
// table built on the worker. Charged by thread CPU over the scan's wall time, a 3 ms scan cost 50–100 ms of the
// list's budget and the list waited up to 750 ms.
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.js';
import { measured, metered, threadCpuMs } from '../../server/proc/scan-cost.js';
import { ScanPool } from '../../server/proc/scan-pool.js';

const pool = new ScanPool(createLogger('silent'), 1);
afterAll(() => pool.dispose());

/** Burns `ms` of this thread's CPU in 5 ms slices, one per event-loop turn, outside any scan. */
function burnBesides(ms: number): Promise<number> {
  const t0 = threadCpuMs();
  return new Promise((resolve) => {
    const slice = () => {
      const until = performance.now() + 5;
      while (performance.now() < until) Math.sqrt(Math.random());
      if (threadCpuMs() - t0 < ms) setImmediate(slice);
      else resolve(threadCpuMs() - t0);
    };
    setImmediate(slice);
  });
}

/** A mount table of `lines` ordinary lines, as the worker's page job takes it. */
function bigTable(lines: number): Uint8Array {
  const rows: string[] = [];
  for (let i = 0; i < lines; i++)
    rows.push(`${100 + i} 1 0:${50 + (i % 9)} / /tmp/m${i} rw,relatime shared:1 - tmpfs tmpfs rw`);
  return new TextEncoder().encode(rows.join('\n') + '\n');
}

describe('scan cost', () => {
  it("charges a scan its own job, not the worker's earlier job nor the main thread's work while it waited", async () => {
    await pool.mountinfo([{ mnt: 'self', pids: null }], 1); // the worker is up
    // Someone else's big table ahead of the scan on the worker, and terminal work on the main thread meanwhile.
    const page = pool.page({ raw: bigTable(60_000), limit: 60_000 });
    const burn = burnBesides(60);
    const wall0 = performance.now();
    const { value, cpuMs } = await metered(() => pool.mountinfo([{ mnt: 'self', pids: null }], 1));
    const wallMs = performance.now() - wall0;
    const [burnt] = await Promise.all([burn, page]);
    expect(value[0]?.raw.length).toBeGreaterThan(0);
    // It waited behind the page job while the main thread burnt; its charge is its own read of one table.
    expect(wallMs).toBeGreaterThan(20);
    expect(burnt).toBeGreaterThanOrEqual(60);
    expect(cpuMs).toBeGreaterThan(0);
    expect(cpuMs).toBeLessThan(15);
  });

  it('charges the main-thread steps measured inside the scan, and nothing outside one', async () => {
    const spin = (ms: number) => {
      const until = threadCpuMs() + ms;
      while (threadCpuMs() < until) Math.sqrt(Math.random());
    };
    const { cpuMs } = await metered(async () => {
      measured(() => spin(20));
      await new Promise((r) => setImmediate(r));
      spin(20); // not measured: work the scan did not declare is not charged
    });
    expect(cpuMs).toBeGreaterThanOrEqual(20);
    expect(cpuMs).toBeLessThan(35);
    measured(() => spin(1)); // outside a scan: runs, charged to nobody
  });
});

describe('threadCpuMs', () => {
  it("counts this thread's CPU and not another thread's, which process.cpuUsage() mixes in", async () => {
    // A worker that burns a fixed amount of CPU (~0.3 s idle) while this thread sleeps: a terminal mirror
    // parsing a flood. Fixed work, not wall time: on a loaded machine a wall-time loop gets little CPU.
    const burner = new Worker('let x = 0; for (let i = 0; i < 3e8; i++) x = (x + i) | 0;', { eval: true });
    const main0 = threadCpuMs();
    const all0 = process.cpuUsage();
    await new Promise((resolve) => burner.once('exit', resolve));
    const mainMs = threadCpuMs() - main0;
    const all = process.cpuUsage(all0);
    const allMs = (all.user + all.system) / 1000;
    expect(allMs).toBeGreaterThan(100);
    expect(mainMs).toBeGreaterThanOrEqual(0);
    expect(mainMs).toBeLessThan(allMs / 2);
  });
});
