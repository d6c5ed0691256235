// Real kernel state for tests: private temp dirs, persisted mount namespaces, processes holding them. Every
// fixture registers its own teardown; `cleanup()` (call it from afterEach/afterAll) undoes everything in reverse,
// also when the test failed halfway, and keeps going past individual errors.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { allowedCpus } from '../../server/namespaces/lifecycle.js';

/** Run a program (argv array, no shell); throws with its stderr when it fails. */
export function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * `sh`, tried again when the kernel answers EINVAL: persisting a mount namespace from a non-initial one fails
 * now and then on 6.18, because namespace ids come from per-CPU batches and the kernel's loop check compares
 * them (see PERSIST_ATTEMPTS in lifecycle.ts). A retry on the same CPU draws from the same batch and fails again
 * (5 plain retries all failed once in a CI run), so, as the product does, each retry runs on the next CPU in
 * turn: on the CPU the older namespace was made on, the new id is larger.
 */
export function shPersist(file: string, args: string[]): string {
  const cpus = allowedCpus(readFileSync('/proc/self/status', 'utf8'));
  const attempts = Math.max(5, 2 * cpus.length + 1);
  for (let attempt = 1; ; attempt++) {
    const cpu = attempt > 1 && cpus.length > 1 ? cpus[(attempt - 2) % cpus.length] : undefined;
    try {
      return cpu === undefined ? sh(file, args) : sh('taskset', ['--cpu-list', String(cpu), file, ...args]);
    } catch (e) {
      if (attempt >= attempts || !/Invalid argument/.test(String((e as { stderr?: unknown }).stderr))) throw e;
    }
  }
}

export function mntOf(pid: number | 'self'): string | null {
  try {
    const link = readlinkSync(`/proc/${pid}/ns/mnt`);
    return `mnt:${link.slice(5, -1)}`;
  } catch {
    return null;
  }
}

/** `mnt:<inode>` of the nsfs bind at `file`. */
export function nsIdOfFile(file: string): string {
  return `mnt:${statSync(file, { bigint: true }).ino}`;
}

/** Mount points (in the test process's mount namespace) at or below `dir`, deepest and newest first. */
export function mountsUnder(dir: string): string[] {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  const targets = lines.map((l) =>
    (l.split(' ')[4] as string).replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))),
  );
  return targets.filter((t) => t === dir || t.startsWith(dir + '/')).reverse();
}

export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Holder {
  pid: number;
  /** SIGKILL and wait for the exit */
  kill(): Promise<void>;
}

export class KernelFixtures {
  private readonly teardown: (() => Promise<void> | void)[] = [];

  /** A temp dir under /tmp made a private bind mount of itself: the place persisted namespaces may live. */
  privateDir(prefix = 'nsconsole-kernel-'): string {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    this.teardown.push(() => removeDir(dir));
    sh('mount', ['--bind', '--make-private', dir, dir]);
    return dir;
  }

  /** A plain temp dir (not a mount point), removed with everything mounted under it. */
  tempDir(prefix = 'nsconsole-kernel-'): string {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    this.teardown.push(() => removeDir(dir));
    return dir;
  }

  /** `touch FILE; unshare --mount=FILE --propagation private -- true`: a persisted mount namespace, no process. */
  persistMountNs(file: string): string {
    writeFileSync(file, '');
    shPersist('unshare', [`--mount=${file}`, '--propagation', 'private', '--', 'true']);
    return nsIdOfFile(file);
  }

  /** Run argv inside the mount namespace persisted at `file`. */
  inNs(file: string, argv: [string, ...string[]]): string {
    return sh('nsenter', [`--mount=${file}`, '--', ...argv]);
  }

  /** A `sleep` inside the namespace at `file` (the walkthrough's "inside" shell). */
  async holdNs(file: string): Promise<Holder> {
    return this.spawnHolder('nsenter', [`--mount=${file}`, '--', 'sleep', '1000'], nsIdOfFile(file));
  }

  /** `unshare --mount=FILE sleep`: persists a new namespace at FILE with a process in it (NPROCS 1). */
  async persistWithProcess(file: string): Promise<{ id: string; holder: Holder }> {
    writeFileSync(file, '');
    const self = mntOf('self');
    const holder = await this.spawnHolder(
      'unshare',
      [`--mount=${file}`, '--propagation', 'private', '--', 'sleep', '1000'],
      null,
      (pid) => {
        const m = mntOf(pid);
        return m !== null && m !== self && isNsfsBind(file);
      },
    );
    return { id: nsIdOfFile(file), holder };
  }

  /** A process in a new mount namespace that is not persisted anywhere. */
  async unpersistedNs(): Promise<Holder> {
    const self = mntOf('self');
    return this.spawnHolder('unshare', ['--mount', '--propagation', 'private', '--', 'sleep', '1000'], null, (pid) => {
      const m = mntOf(pid);
      return m !== null && m !== self;
    });
  }

  /** Undo everything, newest first; report all errors at the end rather than stopping at the first. */
  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    while (this.teardown.length > 0) {
      const step = this.teardown.pop() as () => Promise<void> | void;
      try {
        await step();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'kernel fixture cleanup failed');
  }

  private async spawnHolder(
    file: string,
    args: string[],
    expectMnt: string | null,
    ready?: (pid: number) => boolean,
  ): Promise<Holder> {
    const child: ChildProcess = spawn(file, args, { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const pid = child.pid as number;
    const kill = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    };
    this.teardown.push(kill);
    // nsenter/unshare exec sleep after setns/unshare: wait until the process is really inside.
    await waitFor(() => (ready ? ready(pid) : mntOf(pid) === expectMnt), `PID ${pid} (${file}) to be in its namespace`);
    return { pid, kill };
  }
}

function isNsfsBind(file: string): boolean {
  try {
    return statSync(file).dev === statSync('/proc/self/ns/mnt').dev;
  } catch {
    return false;
  }
}

/** Unmount everything at or under `dir` (nsfs binds, tmpfs, the private bind itself), then remove it. */
function removeDir(dir: string): void {
  for (let round = 0; round < 4; round++) {
    const targets = mountsUnder(dir);
    if (targets.length === 0) break;
    for (const t of targets) {
      try {
        execFileSync('umount', [t], { stdio: 'ignore' });
      } catch {
        // Swallow: busy or already gone with its parent; the lazy pass below detaches whatever is left.
        try {
          execFileSync('umount', ['--lazy', t], { stdio: 'ignore' });
        } catch {
          // Swallow: already unmounted.
        }
      }
    }
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`could not unmount ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}
