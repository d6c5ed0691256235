// Turns among floods (issue #11): with more floods reading than a turn takes, they read in rounds, a few per
// event-loop turn, and a small read (an echo) never waits.
import { afterEach, describe, expect, it } from 'vitest';
import { READERS_PER_TURN, ReadTurns, STREAMING_READ_BYTES, type Throttle } from '../../server/terminals/read-turns.js';

const turn = () => new Promise((r) => setImmediate(r));
const READ = 4095; // what a pty read returns while output outruns us

class FakeGate implements Throttle {
  throttled = false;
  changes = 0;
  throttle(on: boolean): void {
    this.throttled = on;
    this.changes++;
  }
}

let turns: ReadTurns | undefined;
afterEach(() => turns?.dispose());

/** One event-loop turn in which every gate that is not throttled reads once. */
async function pollAll(t: ReadTurns, gates: FakeGate[], bytes = READ): Promise<FakeGate[]> {
  const readers = gates.filter((g) => !g.throttled);
  for (const g of readers) t.read(g, bytes);
  await turn();
  return readers;
}

describe('ReadTurns', () => {
  it('never throttles a few floods, or any number of small reads', async () => {
    turns = new ReadTurns();
    const floods = Array.from({ length: READERS_PER_TURN }, () => new FakeGate());
    const typists = Array.from({ length: 100 }, () => new FakeGate());
    for (let i = 0; i < 20; i++) {
      await pollAll(turns, floods);
      for (const g of typists) turns.read(g, STREAMING_READ_BYTES - 1);
    }
    expect([...floods, ...typists].every((g) => g.changes === 0)).toBe(true);
    expect(turns.waiting).toBe(0);
  });

  it('lets many floods read in rounds, a few per turn, each in its turn', async () => {
    turns = new ReadTurns();
    const floods = Array.from({ length: 40 }, () => new FakeGate());
    const reads = new Map<FakeGate, number>();
    let most = 0;
    for (let i = 0; i < 30; i++) {
      const readers = await pollAll(turns, floods);
      if (i > 0) most = Math.max(most, readers.length); // the first turn: everyone was reading already
      for (const g of readers) reads.set(g, (reads.get(g) ?? 0) + 1);
    }
    expect(most).toBeLessThanOrEqual(READERS_PER_TURN);
    // Round robin: after 29 rounds of 4 places among 40 floods, every flood has read about as often as the others.
    const counts = floods.map((g) => reads.get(g) ?? 0);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
  });

  it('moves the queue on even when those let back in do not read (their clients are behind)', async () => {
    turns = new ReadTurns();
    const floods = Array.from({ length: 12 }, () => new FakeGate());
    await pollAll(turns, floods);
    expect(turns.waiting).toBe(12 - READERS_PER_TURN);
    // Nobody reads any more: the waiting ones are still let back in, a turn at a time.
    await expect.poll(() => turns!.waiting, { timeout: 2000 }).toBe(0);
    expect(floods.every((g) => !g.throttled)).toBe(true);
  });

  it('drops a session that ends from the queue, and lets everyone read again when disposed', async () => {
    turns = new ReadTurns();
    const floods = Array.from({ length: 12 }, () => new FakeGate());
    for (const g of floods) turns.read(g, READ);
    const waiting = floods.filter((g) => g.throttled);
    expect(waiting).toHaveLength(12 - READERS_PER_TURN);
    turns.forget(waiting[0]!);
    expect(turns.waiting).toBe(12 - READERS_PER_TURN - 1);
    turns.dispose();
    expect(floods.filter((g) => g.throttled)).toEqual([waiting[0]]); // the forgotten one belongs to a dead session
    expect(turns.waiting).toBe(0);
  });
});
