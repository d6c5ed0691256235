// Waiting for the kernel to show a state (a namespace, a child, an exit): look, back off, give up at a deadline.
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../errors.js';

/** First and longest wait between looks: most states appear within 1-5 ms; 10 ms keeps the wait after a slow one short (a sandbox start waits on several in a row). */
const FIRST_WAIT_MS = 1;
const MAX_WAIT_MS = 10;

/** Resolves with the first non-null answer; an Error answer is thrown; KERNEL_ERROR after `deadlineMs`. */
export async function poll<T>(check: () => T | Error | null, deadlineMs: number, what: string): Promise<T> {
  const until = Date.now() + deadlineMs;
  let wait = FIRST_WAIT_MS;
  for (;;) {
    const v = check();
    if (v instanceof Error) throw v;
    if (v !== null) return v;
    if (Date.now() > until) throw new AppError('KERNEL_ERROR', `timed out after ${deadlineMs} ms waiting for ${what}`);
    await sleep(wait);
    wait = Math.min(wait * 2, MAX_WAIT_MS);
  }
}
