// NamespaceWatcher scheduling against a fake source: when it scans, when it reads tables, when it stops.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Namespace } from '../../shared/api.js';
import { createLogger } from '../../server/log.js';
import type { Snapshot } from '../../server/namespaces/snapshot.js';
import type { ProcessDelta, ProcessEvents } from '../../server/kernel/process-events.js';
import { NamespaceWatcher, type EngineEvent, type WatchSource } from '../../server/namespaces/watch.js';
import { ScanBudget } from '../../server/namespaces/watch-timing.js';

const ns = (id: string, nprocs = 1): Namespace => ({
  id,
  type: 'mnt',
  inode: Number(id.slice(4)),
  nprocs,
  pid: nprocs ? 100 : null,
  user: 'root',
  command: 'sleep',
  nsfs: [],
  self: false,
});

function snapshotOf(rows: Namespace[]): Snapshot {
  return {
    namespaces: rows,
    byId: new Map(rows.map((r) => [r.id, r])),
    members: new Map(rows.map((r) => [r.id, [100]])),
    binds: [],
    chains: new Map(),
    problems: [],
    takenAt: Date.now(),
  };
}

class FakeSource implements WatchSource {
  processEvents?: ProcessEvents | null;
  cpuMs?: () => number;
  rows: Namespace[] = [ns('mnt:10')];
  tables = new Map<string, string>([['mnt:10', '1 0 0:1 / / rw - ext4 a rw\n']]);
  sig = 'a';
  scans = 0;
  reads = 0;
  async snapshot() {
    this.scans++;
    return snapshotOf(this.rows);
  }
  tableAccess(id: string, snap: Snapshot) {
    return snap.byId.has(id) ? { mntId: id, access: { kind: 'pids' as const, pids: [100] } } : null;
  }
  async readTable(mntId: string) {
    this.reads++;
    const t = this.tables.get(mntId);
    if (t === undefined) throw new Error('gone');
    return { raw: Buffer.from(t) };
  }
  signature() {
    return this.sig;
  }
}

const log = createLogger('silent');
afterEach(() => vi.useRealTimers());

async function settle(ms: number) {
  await vi.advanceTimersByTimeAsync(ms);
}

describe('NamespaceWatcher', () => {
  it('shows a change within a few seconds even when every scan is expensive (a loaded machine)', async () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    // Each scan takes 300 ms of wall time: a budget of cost/share alone would wait minutes between scans.
    const slow = src.snapshot.bind(src);
    src.snapshot = async () => {
      await new Promise((r) => setTimeout(r, 300));
      return slow();
    };
    const w = new NamespaceWatcher(src, log);
    const lists: Namespace[][] = [];
    const h = w.subscribe((e) => e.type === 'namespaces' && lists.push(e.namespaces), []);
    await settle(3000);
    src.sig = 'b';
    src.rows = [ns('mnt:10'), ns('mnt:11')];
    await settle(1000);
    src.sig = 'c';
    src.rows = [ns('mnt:10'), ns('mnt:11', 2)];
    await settle(4000);
    expect(lists.at(-1)?.find((n) => n.id === 'mnt:11')?.nprocs).toBe(2);
    h.dispose();
  });

  it('scans once, then only when a process starts or exits (plus one settle scan), or at the max age', async () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    const w = new NamespaceWatcher(src, log);
    const events: EngineEvent[] = [];
    const h = w.subscribe((e) => events.push(e), []);
    await settle(3000);
    expect(src.scans).toBe(1);
    expect(events.filter((e) => e.type === 'namespaces')).toHaveLength(1);
    src.sig = 'b';
    src.rows = [ns('mnt:10', 2)];
    await settle(600);
    expect(src.scans).toBe(2);
    expect(events.filter((e) => e.type === 'namespaces')).toHaveLength(2);
    await settle(2000);
    expect(src.scans).toBe(3); // the settle scan, then quiet again
    await settle(10_000);
    expect(src.scans).toBe(4); // max age
    h.dispose();
    w.dispose();
  });

  it('pushes a watched table at once and on change, and stops reading when nobody watches', async () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    const w = new NamespaceWatcher(src, log);
    const events: EngineEvent[] = [];
    const h = w.subscribe((e) => events.push(e), ['mnt:10']);
    await settle(50);
    expect(events.filter((e) => e.type === 'mounts')).toHaveLength(1);
    const readsBefore = src.reads;
    await settle(1000);
    expect(src.reads).toBeGreaterThanOrEqual(readsBefore + 5); // polled every tick (150 ms)
    expect(events.filter((e) => e.type === 'mounts')).toHaveLength(1); // unchanged: nothing pushed
    src.tables.set('mnt:10', src.tables.get('mnt:10') + '2 1 0:2 / /x rw - tmpfs x rw\n');
    await settle(150);
    const tables = events.filter((e) => e.type === 'mounts');
    expect(tables).toHaveLength(2);
    expect(tables[1]?.type === 'mounts' && tables[1].mounts.map((m) => m.target)).toEqual(['/', '/x']);

    h.setIds([]);
    const readsAfter = src.reads;
    await settle(2000);
    expect(src.reads).toBe(readsAfter);
    h.dispose();
    const scans = src.scans;
    await settle(20_000);
    expect(src.scans).toBe(scans); // nobody left: no list scans either
    w.dispose();
  });

  it('says gone when a watched namespace disappears', async () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    const w = new NamespaceWatcher(src, log);
    const events: EngineEvent[] = [];
    const h = w.subscribe((e) => events.push(e), ['mnt:10']);
    await settle(50);
    src.rows = [];
    src.tables.clear();
    src.sig = 'c';
    await settle(700);
    expect(events).toContainEqual({ type: 'gone', id: 'mnt:10' });
    h.dispose();
    w.dispose();
  });

  it('gives a second subscriber the current list and table at once', async () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    const w = new NamespaceWatcher(src, log);
    const h1 = w.subscribe(() => undefined, ['mnt:10']);
    await settle(50);
    const events: EngineEvent[] = [];
    const h2 = w.subscribe((e) => events.push(e), ['mnt:10']);
    expect(events.map((e) => e.type)).toEqual(['namespaces', 'mounts']);
    h1.dispose();
    h2.dispose();
    w.dispose();
  });
});

/** The proc connector's contract (server/kernel/process-events.ts): one call per arm(), PIDs since the last arm(). */
class FakeEvents implements ProcessEvents {
  private cb: (() => void) | null = null;
  private touched: Set<number> | null = null;
  private armedAt = -Infinity;
  arm(onActivity: () => void): ProcessDelta {
    const delta = { since: this.armedAt, pids: this.touched };
    this.touched = new Set();
    this.armedAt = performance.now();
    this.cb = onActivity;
    return delta;
  }
  fire(pid: number): void {
    this.touched?.add(pid);
    const cb = this.cb;
    this.cb = null;
    cb?.();
  }
  dispose(): void {}
}

describe('NamespaceWatcher process activity', () => {
  it('hands PIDs on at once while the budget holds the list back, and the next scan still reads every one', async () => {
    vi.useFakeTimers();
    const src = new FakeSource();
    const events = new FakeEvents();
    let cpu = 0;
    const deltas: (ProcessDelta | undefined)[] = [];
    src.processEvents = events;
    src.cpuMs = () => cpu;
    src.snapshot = async (delta?: ProcessDelta) => {
      deltas.push(delta);
      cpu += 150; // two scans spend the 300 ms budget of the window
      return snapshotOf(src.rows);
    };
    const w = new NamespaceWatcher(src, log);
    const h = w.subscribe(() => undefined, []);
    await settle(10);
    events.fire(1);
    await settle(200);
    expect(deltas).toHaveLength(2); // the first (full) scan and one for PID 1: the budget is spent now

    const handed: number[][] = [];
    const off = w.onProcessActivity((pids) => handed.push([...(pids ?? [])]));
    events.fire(2);
    expect(handed).toEqual([[2]]);
    events.fire(3); // within ACTIVITY_MIN_GAP_MS of the last hand-on: handed on after it
    events.fire(4);
    expect(handed).toEqual([[2]]);
    await settle(30);
    expect(handed).toEqual([[2], [3, 4]]);
    expect(deltas).toHaveLength(2); // the list itself still waits for its budget

    await settle(1000);
    expect(deltas).toHaveLength(3);
    expect([...(deltas[2]?.pids ?? [])].sort()).toEqual([2, 3, 4]);
    off();
    events.fire(5);
    await settle(30);
    expect(handed).toHaveLength(2); // nobody listening: nothing handed on
    h.dispose();
    w.dispose();
  });
});

describe('ScanBudget', () => {
  it('lets the first scans of a quiet window run at once, then spaces them to 3% of a CPU, never beyond 750 ms', () => {
    const b = new ScanBudget();
    // 60 ms scans: five fit in the 300 ms budget of a 10 s window
    for (let i = 0; i < 4; i++) {
      expect(b.delay(i * 10, 60)).toBe(0);
      b.record(i * 10, 60);
    }
    expect(b.delay(40, 60)).toBe(0);
    b.record(40, 60);
    // the sixth waits until the oldest leaves the window, but never more than 750 ms
    expect(b.delay(50, 60)).toBe(750);
    expect(b.delay(9500, 60)).toBe(500);
    // ...and after a quiet window, at once again
    expect(b.delay(20_000, 60)).toBe(0);
  });
});
