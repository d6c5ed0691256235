import { describe, expect, it } from 'vitest';
import { DisposableStore, TimeoutSlot, toDisposable } from '../../server/lifecycle/disposables.js';

const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('DisposableStore', () => {
  it('disposes everything added, last added first, each once', () => {
    const order: string[] = [];
    const store = new DisposableStore();
    store.add(toDisposable(() => order.push('a')));
    const b = store.add(toDisposable(() => order.push('b')));
    store.dispose();
    store.dispose();
    b.dispose();
    expect(order).toEqual(['b', 'a']);
    expect(store.isDisposed).toBe(true);
  });

  it('keeps disposing past one that throws, then rethrows the first error', () => {
    const order: string[] = [];
    const store = new DisposableStore();
    store.add(toDisposable(() => order.push('a')));
    store.add(
      toDisposable(() => {
        throw new Error('first');
      }),
    );
    store.add(
      toDisposable(() => {
        throw new Error('second');
      }),
    );
    expect(() => store.dispose()).toThrow('second');
    expect(order).toEqual(['a']);
  });

  it('disposes at once what is added after it was disposed', () => {
    const store = new DisposableStore();
    store.dispose();
    let disposed = false;
    store.add(toDisposable(() => (disposed = true)));
    expect(disposed).toBe(true);
  });

  it('leaves no timer behind once a TimeoutSlot is disposed', () => {
    const before = timeouts();
    const store = new DisposableStore();
    const slot = store.add(new TimeoutSlot());
    slot.set(() => expect.unreachable('a disposed timer fired'), 60_000);
    slot.set(() => expect.unreachable('a replaced timer fired'), 60_000);
    expect(timeouts()).toBe(before + 1);
    store.dispose();
    expect(timeouts()).toBe(before);
  });
});
