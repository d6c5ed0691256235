// What an object owns is registered where it is created, and freed in one place (VS Code's `_register` habit):
//   private readonly store = new DisposableStore();
//   this.timer = this.store.add(new TimeoutSlot());
//   this.store.add(pty.onData(…));
// and dispose() is `this.store.dispose()`. Nothing is forgotten when a field is added, and a constructor that
// fails half-way frees what it had already made.

export interface Disposable {
  dispose(): void;
}

export function toDisposable(dispose: () => void): Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      dispose();
    },
  };
}

/**
 * Disposes what was added, last added first (what was made later may use what was made before it), each once.
 * One that throws does not keep the others from being disposed: the first error is rethrown at the end.
 */
export class DisposableStore implements Disposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Registers `item` and returns it; added to a store already disposed, it is disposed at once. */
  add<T extends Disposable>(item: T): T {
    if (this.disposed) item.dispose();
    else this.items.push(item);
    return item;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    let first: { err: unknown } | undefined;
    for (const item of this.items.splice(0).reverse()) {
      try {
        item.dispose();
      } catch (err) {
        first ??= { err };
      }
    }
    if (first) throw first.err;
  }
}

/** One timer at a time: set() replaces the one before; dispose() clears it. */
export class TimeoutSlot implements Disposable {
  private timer: NodeJS.Timeout | undefined;

  set(fn: () => void, ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, ms);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.clear();
  }
}
