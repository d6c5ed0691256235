// What a scan cost in CPU, counting only its own work. The live list's budget (ScanBudget) is paid in these
// milliseconds. Reading the CPU of the scan's threads over its wall time charged it with whatever else those
// threads did meanwhile: the main thread relaying a terminal flood while the scan waited for the worker, or the
// worker building an admin's 5,000-row mount table ahead of the scan's job. A 3 ms scan was then charged
// 50–100 ms and the list waited for its budget (up to LIST_EVENT_MAX_GAP_MS) for nothing.
//
// Now each piece of a scan measures itself: the scan pool's jobs on whichever thread runs them, and the main
// thread's synchronous steps in between (measured()). Pieces find the scan they belong to through
// AsyncLocalStorage, so a table read started by someone else at the same time is charged to nobody's list.
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadLibc } from '../kernel/libc.js';

export interface CostMeter {
  /** CPU ms charged so far */
  ms: number;
}

const meters = new AsyncLocalStorage<CostMeter>();

/** Runs `fn` with a fresh meter; what its pieces cost, wherever they ran. */
export async function metered<T>(fn: () => Promise<T>): Promise<{ value: T; cpuMs: number }> {
  const meter: CostMeter = { ms: 0 };
  const value = await meters.run(meter, fn);
  return { value, cpuMs: meter.ms };
}

/** The meter of the scan this code runs for, if any (pass it along to work done elsewhere). */
export function currentMeter(): CostMeter | undefined {
  return meters.getStore();
}

/** Runs synchronous `fn` on this thread and charges its CPU to the current meter (none: just runs it). */
export function measured<T>(fn: () => T): T {
  const meter = meters.getStore();
  if (!meter) return fn();
  const t0 = threadCpuMs();
  try {
    return fn();
  } finally {
    meter.ms += threadCpuMs() - t0;
  }
}

/** CLOCK_THREAD_CPUTIME_ID: the calling thread's CPU time, exact to the nanosecond. */
const CLOCK_THREAD_CPUTIME_ID = 3;
const timespec = Buffer.alloc(16);

/**
 * CPU ms this thread has run (~1 µs a call, through libc). Node 20 has no per-thread figure of its own
 * (process.threadCpuUsage came in 23.9) and process.cpuUsage() counts every thread. /proc/thread-self/schedstat
 * is no substitute: for a running thread it is updated only at scheduler ticks, so a 0.3 ms job read as 0 or 4 ms.
 */
export function threadCpuMs(): number {
  const libc = loadLibc();
  if (!libc || libc.clockGettime(CLOCK_THREAD_CPUTIME_ID, timespec) !== 0) return 0; // pieces then cost nothing
  return Number(timespec.readBigInt64LE(0)) * 1000 + Number(timespec.readBigInt64LE(8)) / 1e6;
}
