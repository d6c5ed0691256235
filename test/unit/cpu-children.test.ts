// ScanBudget's clock: CPU of this process plus the helper processes it ran (issue 16 item 8: helpers were free).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cpuMsWithChildren } from '../../server/namespaces/watch-timing.js';

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
