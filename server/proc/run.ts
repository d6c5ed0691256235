// Runs a short-lived helper (mount, umount, unshare … true) from an argv array, never a shell string, and
// waits for it: no helper outlives the call that started it. Helpers run only in the server's own mount
// namespace or one it has just created as a copy of it: the program is found in the host's system
// directories (never by the server's inherited PATH, never inside another user's namespace), and so is any
// program it execs (`unshare … -- true` gets HELPER_PATH).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface RunResult {
  code: number;
  /** stdout as UTF-8 text (latin1 when `binary`) */
  stdout: string;
  stderr: string;
  /** the exact stdout bytes, when asked for with `binary` */
  stdoutBytes?: Buffer;
}

/** Long enough for `mount -a` of a large fstab; short enough that a wedged helper does not hang a request. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** A 5,000-mount mountinfo is ~600 kB; leave room for tables much larger than that. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/** Where helpers are looked up, and the PATH they get: root-owned system directories only. */
const HELPER_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const HELPER_PATH = HELPER_DIRS.join(':');

/** `name` as an absolute path in HELPER_DIRS (its first occurrence); an absolute `name` is kept. */
export function hostBinary(name: string): string {
  if (path.isAbsolute(name)) return name;
  for (const dir of HELPER_DIRS) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  // Not installed: a path that does not exist, never the bare name — spawning a bare name would look it up in
  // PATH, which the server (root) must never do. Callers get ENOENT and report a missing util-linux.
  return path.join(HELPER_DIRS[1] as string, name);
}

/**
 * Helpers that enter a namespace are, for their short life, processes in it. Discovery skips the PIDs in this
 * set so that reading a persisted namespace does not make it flicker to NPROCS 1 in the list.
 */
export type HelperPids = Set<number>;

/** Resolves with the exit code (-1 when killed) and output; rejects only when the program cannot be started. */
export function run(
  file: string,
  args: readonly string[],
  opts: { helperPids?: HelperPids; timeoutMs?: number; binary?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      hostBinary(file),
      args as string[],
      {
        encoding: 'buffer',
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_OUTPUT_BYTES,
        env: { PATH: HELPER_PATH, LC_ALL: 'C' },
      },
      (err, stdout, stderr) => {
        if (child.pid !== undefined) opts.helperPids?.delete(child.pid);
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // ENOENT/EACCES spawning the program itself: the machine lacks util-linux, not a kernel answer.
          reject(err);
          return;
        }
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        const result: RunResult = {
          code,
          stdout: stdout.toString(opts.binary ? 'latin1' : 'utf8'),
          stderr: stderr.toString('utf8'),
        };
        if (opts.binary) result.stdoutBytes = stdout;
        resolve(result);
      },
    );
    if (child.pid !== undefined) opts.helperPids?.add(child.pid);
  });
}
