// ScanBudget's clock: CPU of this process plus the helper processes it ran (issue 16 item 8: helpers were free).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cpuMsWithChildren, threadsCpuMs } from '../../server/namespaces/watch-timing.js';

describe('cpuMsWithChildren', () => {
  it('counts the CPU of a child that was waited for, which process.cpuUsage() misses', () => {
    const own0 = process.cpuUsage();
    const all0 = cpuMsWithChildren();
    // A child that burns ~200 ms of CPU in a shell loop (argv array, no variables in it).
    const r = spawnSync('/bin/sh', ['-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'], { stdio: 'ignore' });
    expect(r.status).toBe(0);
    const own = process.cpuUsage(own0);
    const ownMs = (own.user + own.system) / 1000;
    const allMs = cpuMsWithChildren() - all0;
    // The child's time shows up in ours-plus-children, well beyond what this process itself spent.
    expect(allMs - ownMs).toBeGreaterThan(50);
  });
});

describe('threadsCpuMs', () => {
  it("counts the named threads' CPU and not another thread's, which process.cpuUsage() mixes in", async () => {
    const { Worker } = await import('node:worker_threads');
    // A worker that burns a fixed amount of CPU (~0.3 s idle) while this thread sleeps: a terminal mirror
    // parsing a flood. Fixed work, not wall time: on a loaded machine a wall-time loop gets little CPU.
    const burner = new Worker('let x = 0; for (let i = 0; i < 3e8; i++) x = (x + i) | 0;', { eval: true });
    const main0 = threadsCpuMs([process.pid]);
    const all0 = process.cpuUsage();
    await new Promise((resolve) => burner.once('exit', resolve));
    const mainMs = threadsCpuMs([process.pid]) - main0;
    const all = process.cpuUsage(all0);
    const allMs = (all.user + all.system) / 1000;
    expect(allMs).toBeGreaterThan(100);
    expect(mainMs).toBeGreaterThanOrEqual(0);
    expect(mainMs).toBeLessThan(allMs / 2);
  });
});
