// Runs a short-lived helper (unshare, mount, umount, nsenter … cat) from an argv array, never a shell string,
// and waits for it: no helper outlives the call that started it.
import { execFile } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Long enough for `mount -a` of a large fstab; short enough that a wedged helper does not hang a request. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** A 5,000-mount mountinfo is ~600 kB; leave room for tables much larger than that. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/**
 * Helpers that enter a namespace are, for their short life, processes in it. Discovery skips the PIDs in this
 * set so that reading a persisted namespace does not make it flicker to NPROCS 1 in the list.
 */
export type HelperPids = Set<number>;

/** Resolves with the exit code (-1 when killed) and output; rejects only when the program cannot be started. */
export function run(file: string, args: readonly string[], opts: { helperPids?: HelperPids; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args as string[],
      { encoding: 'utf8', timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (child.pid !== undefined) opts.helperPids?.delete(child.pid);
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // ENOENT/EACCES spawning the program itself: the machine lacks util-linux, not a kernel answer.
          reject(err);
          return;
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (child.pid !== undefined) opts.helperPids?.add(child.pid);
  });
}
