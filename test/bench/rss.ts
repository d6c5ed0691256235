// A process's resident memory, for benches that report what the server keeps.
import { readFileSync } from 'node:fs';
import { median } from './row.js';

/** VmRSS of `pid` in bytes; 0 when it is gone (the rows then show 0 or say it exited). */
export function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // Swallow: the process is gone; the caller's row says so
  }
}

/** The median of `samples` RSS readings a second apart (a GC in the middle of one moves it by megabytes). */
export async function steadyRss(pid: number, samples = 5): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < samples; i++) {
    xs.push(rss(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  return median(xs);
}
