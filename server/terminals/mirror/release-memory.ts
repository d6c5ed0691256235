// Handing the memory of frozen scrollback (scrollback-freezer.ts) back to the kernel.
//
// What freezing releases is thousands of 1.4 kB ArrayBuffer backing stores, which are only freed when V8 collects
// their (old-generation) wrappers, and an idle worker may not run a full collection for a long time. Then glibc's
// free() keeps such memory resident unless it sits at the top of the heap. Measured with 100 frozen terminals:
// RSS did not go down at all (307 → 337 MB) until a full GC and malloc_trim(0) returned the free pages (→ 155 MB).
// The GC is V8's own `gc`, which Node exposes only with --expose-gc: the flag is set at run time and the function
// taken from a fresh context (the only way for a worker, whose execArgv cannot carry V8 flags). malloc_trim comes
// through koffi (no Node binding has it). Where either cannot be had, the memory still serves the process's later
// allocations; it is just not returned.
import koffi from 'koffi';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;
let trim: ((pad: number) => number) | null | undefined;

function fullGc(): void {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('gc');
      collect = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      collect = null; // Swallow: no collection on demand; V8 collects when it sees fit
    }
  }
  collect?.();
}

/** Collects garbage in this thread now (a full, blocking collection: tens of milliseconds with a large heap). */
export function collectGarbage(): void {
  fullGc();
}

/** Returns glibc's free heap pages (every thread's arena) to the kernel: a few milliseconds. */
export function trimHeap(): void {
  if (trim === undefined) {
    try {
      trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      trim = null; // Swallow: no glibc (or no koffi binary): freed memory stays with the process for reuse
    }
  }
  trim?.(0);
}
