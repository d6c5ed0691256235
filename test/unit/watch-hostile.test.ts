// NamespaceWatcher against what a hostile table owner can do (issue #16): change the table all the time, make it
// huge, make a scan throw. A fake source; the real-kernel versions are in test/integration/hostile-scans.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MOUNTS_MAX_JSON_BYTES, type Namespace } from '../../shared/api.js';
import { createLogger } from '../../server/log.js';
import type { MountTracker } from '../../server/mounts/mount-notify.js';
import type { Snapshot } from '../../server/namespaces/snapshot.js';
import { NamespaceWatcher, type EngineEvent, type WatchSource } from '../../server/namespaces/watch.js';
import {
  BIG_TABLE_BYTES,
  BIG_TABLE_EVENT_CPU_SHARE,
  TABLE_EVENT_BURST_MS,
  TABLE_EVENT_CPU_SHARE,
  TABLE_EVENT_MIN_GAP_MS,
} from '../../server/namespaces/watch-timing.js';

const ns = (id: string): Namespace => ({
  id,
  type: 'mnt',
  inode: Number(id.slice(4)),
  nprocs: 1,
  pid: 100,
  user: 'root',
  command: 'sleep',
  nsfs: [],
  self: false,
});
const snapshotOf = (rows: Namespace[]): Snapshot => ({
  namespaces: rows,
  byId: new Map(rows.map((r) => [r.id, r])),
  members: new Map(rows.map((r) => [r.id, [100]])),
  binds: [],
  chains: new Map(),
  problems: [],
  takenAt: Date.now(),
});
const line = (i: number, target = `/m${i}`) => `${i + 2} 1 0:1 / ${target} rw - tmpfs none rw\n`;

class HostileSource implements WatchSource {
  table = line(0);
  reads = 0;
  onFire: (() => void) | null = null;
  failScans = false;
  async snapshot() {
    if (!this.failScans) return snapshotOf([ns('mnt:10')]);
    // What 24 processes with 5.8 MB command lines did: a list too long for JSON.stringify.
    const poisoned = {
      ...ns('mnt:10'),
      command: {
        toJSON: () => {
          throw new RangeError('Invalid string length');
        },
      },
    };
    return snapshotOf([poisoned as unknown as Namespace]);
  }
  tableAccess(id: string) {
    return id === 'mnt:10' ? { mntId: id, access: { kind: 'pids' as const, pids: [100] } } : null;
  }
  async readTable() {
    this.reads++;
    return { raw: Buffer.from(this.table) };
  }
  trackTable(_mnt: string, _a: unknown, onFire: () => void): MountTracker {
    this.onFire = onFire;
    const t = { fired: false, fire: () => undefined, cancel: () => undefined };
    return t as unknown as MountTracker;
  }
}

const log = createLogger('silent');
afterEach(() => vi.useRealTimers());

describe('NamespaceWatcher under a hostile table', () => {
  it('coalesces a storm of mount events into paced reads, the latest state last', async () => {
    vi.useFakeTimers();
    const src = new HostileSource();
    const w = new NamespaceWatcher(src, log);
    const tables: EngineEvent[] = [];
    const h = w.subscribe((e) => e.type === 'mounts' && tables.push(e), ['mnt:10']);
    await vi.advanceTimersByTimeAsync(100);
    const readsBefore = src.reads;
    // 1,000 changes in one second, each reported.
    for (let i = 1; i <= 1000; i++) {
      src.table = line(0) + line(i);
      src.onFire?.();
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(500);
    const reads = src.reads - readsBefore;
    expect(reads).toBeLessThanOrEqual(Math.ceil(1500 / TABLE_EVENT_MIN_GAP_MS) + 2);
    expect(reads).toBeGreaterThan(2);
    const last = tables.at(-1);
    expect(last?.type === 'mounts' && last.mounts.at(-1)?.target).toBe('/m1000');
    h.dispose();
    w.dispose();
  });

  it.each([
    ['small', 0, TABLE_EVENT_CPU_SHARE],
    ['big', BIG_TABLE_BYTES, BIG_TABLE_EVENT_CPU_SHARE],
  ] as const)(
    'holds a %s table whose reads are expensive to its CPU share after a short burst',
    async (_, bytes, share) => {
      vi.useFakeTimers();
      const src = new HostileSource();
      const rest = Array.from({ length: Math.ceil(bytes / line(0).length) }, (_, i) => line(2000 + i)).join('');
      const read = src.readTable.bind(src);
      // Each read takes 100 ms (a big table on a loaded machine).
      src.readTable = async () => {
        await new Promise((r) => setTimeout(r, 100));
        return read();
      };
      const w = new NamespaceWatcher(src, log);
      const h = w.subscribe(() => undefined, ['mnt:10']);
      await vi.advanceTimersByTimeAsync(200);
      const readsBefore = src.reads;
      // It changes every 10 ms for 10 s, each change reported.
      for (let i = 1; i <= 1000; i++) {
        src.table = line(0) + line(i) + rest;
        src.onFire?.();
        await vi.advanceTimersByTimeAsync(10);
      }
      const reads = src.reads - readsBefore;
      // Unpaced: ~100 back-to-back reads. Paced: the burst (TABLE_EVENT_BURST_MS of cost), then one per
      // cost / TABLE_EVENT_CPU_SHARE.
      const paced = TABLE_EVENT_BURST_MS / 100 + (10_000 * share) / 100;
      expect(reads).toBeLessThanOrEqual(paced + 3);
      expect(reads).toBeGreaterThanOrEqual(paced - 2);
      h.dispose();
      w.dispose();
    },
  );

  it('sends a huge table as its first page, marked truncated, never one message over the cap', async () => {
    vi.useFakeTimers();
    const src = new HostileSource();
    const long = '/' + 'd'.repeat(3900);
    src.table = Array.from({ length: 3000 }, (_, i) => line(i, `${long}/${i}`)).join('');
    const w = new NamespaceWatcher(src, log);
    const tables: EngineEvent[] = [];
    const h = w.subscribe((e) => e.type === 'mounts' && tables.push(e), ['mnt:10']);
    await vi.advanceTimersByTimeAsync(100);
    const msg = tables[0];
    expect(msg?.type).toBe('mounts');
    if (msg?.type !== 'mounts') return;
    expect(Buffer.byteLength(JSON.stringify(msg))).toBeLessThan(MOUNTS_MAX_JSON_BYTES + 1024);
    expect(msg.truncated).toEqual({ total: 3000, offset: 0, shown: msg.mounts.length });
    expect(msg.mounts.length).toBeLessThan(3000);
    h.dispose();
    w.dispose();
  });

  it('survives a list it cannot serialize: no unhandled rejection, the next scan publishes', async () => {
    vi.useFakeTimers();
    const src = new HostileSource();
    src.failScans = true;
    const w = new NamespaceWatcher(src, log);
    const lists: EngineEvent[] = [];
    const h = w.subscribe((e) => e.type === 'namespaces' && lists.push(e), []);
    await expect(w.rescan()).resolves.not.toThrow();
    expect(lists).toHaveLength(0);
    src.failScans = false;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(lists.length).toBeGreaterThan(0);
    h.dispose();
    w.dispose();
  });
});
