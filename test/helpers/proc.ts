// What /proc says about processes, read independently of the server code under test.
import { readdirSync, readFileSync } from 'node:fs';

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function hasEnv(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(entry);
  } catch {
    return false;
  }
}

/**
 * Live (non-zombie) pids whose session id (stat field 6) is `sid`: a pty's shell and everything it started.
 * With `mark` (an `NAME=value` environment entry the test's shells carry), only processes of this test count:
 * pids wrap around (pid_max is 32768 here) and another program's new session may reuse a dead shell's pid.
 */
export function pidsInSession(sid: number, mark?: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && f[0] !== 'Z' && Number(f[3]) === sid && (mark === undefined || hasEnv(Number(name), mark)))
      out.push(Number(name));
  }
  return out;
}

/** Live pids whose environment holds `mark`: every process a test harness's shells started. */
export function pidsWithMark(mark: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && f[0] !== 'Z' && hasEnv(Number(name), mark)) out.push(Number(name));
  }
  return out;
}

/** Children of `ppid` that are still alive (zombies excluded). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && f[0] !== 'Z' && Number(f[1]) === ppid) out.push(Number(name));
  }
  return out;
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export async function waitUntil(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
