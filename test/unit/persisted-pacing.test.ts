// Pacing of expensive mount-table re-reads (issue #16) must not apply to a small table whose read was merely
// slow because the machine was busy: a list after its mark fired re-reads it (README "Live changes").
// The scanner runs with a scripted pool (the read's result and its wall time) and a notifier whose marks the
// test fires, so the load that made the read slow is given, not waited for.
import { describe, expect, it } from 'vitest';
import { PersistedScanner } from '../../server/namespaces/persisted.js';
import type { NsfsJobItem, NsfsJobResult } from '../../server/proc/scan-jobs.js';
import type { ScanPool } from '../../server/proc/scan-pool.js';
import type { MountNotifier, MountTracker } from '../../server/mounts/mount-notify.js';
import { createLogger } from '../../server/log.js';

const HOLDER = 'mnt:4026530001';
const BOUND = 'net:4026530002';
const line = '611 25 0:4 net:[4026530002] /tmp/bound-net rw,relatime - nsfs nsfs rw';

class FakeNotifier implements MountNotifier {
  readonly available = true;
  readonly trackers: { fired: boolean; cancel(): void }[] = [];
  track(): MountTracker {
    const t = { fired: false, cancel: () => (t.fired = true) };
    this.trackers.push(t);
    return t;
  }
  fireAll(): void {
    for (const t of this.trackers) t.fired = true;
  }
  sync(): void {}
  dispose(): void {}
}

/** A scanner whose one foreign table holds `lines()` and is read in `ms` with `bytes` bytes. */
function setup(read: { ms: number; bytes: number }) {
  const notifier = new FakeNotifier();
  let lines: string[] = [line];
  let reads = 0;
  const pool = {
    nsfs: async (items: readonly NsfsJobItem[]): Promise<NsfsJobResult[]> =>
      items.map((i) => {
        reads++;
        return { pid: i.pids[0] as number, lines: [...lines], identity: 'x', ms: read.ms, bytes: read.bytes };
      }),
  } as unknown as ScanPool;
  const scanner = new PersistedScanner({
    selfMnt: 'mnt:4026530000',
    helperPids: new Set(),
    pool,
    notifier,
    log: createLogger('silent'),
  });
  const members = new Map([[HOLDER, [2 ** 22 + 1]]]); // no such PID: nothing is followed through it
  const bound = async () =>
    (await scanner.scan(members)).binds.filter((b) => b.holder === HOLDER && b.nsId === BOUND).map((b) => b.path);
  return { notifier, scanner, bound, umount: () => (lines = []), reads: () => reads };
}

describe('paced re-reads of changed mount tables', () => {
  it('re-reads a small table whose mark fired even when its last read was slow (a busy machine)', async () => {
    const s = setup({ ms: 80, bytes: 2_000 });
    try {
      expect(await s.bound()).toEqual(['/tmp/bound-net']);
      s.umount();
      s.notifier.fireAll();
      expect(await s.bound()).toEqual([]);
      expect(s.reads()).toBe(2);
    } finally {
      s.scanner.dispose();
    }
  });

  it('still paces a big slow table that keeps changing (the hostile case)', async () => {
    const s = setup({ ms: 80, bytes: 1_500_000 });
    try {
      expect(await s.bound()).toEqual(['/tmp/bound-net']);
      s.umount();
      s.notifier.fireAll();
      // 80 ms read: cached for 80 / 2 % = 4 s after it; the test's two scans are well within that
      expect(await s.bound()).toEqual(['/tmp/bound-net']);
      expect(s.reads()).toBe(1);
    } finally {
      s.scanner.dispose();
    }
  });
});
