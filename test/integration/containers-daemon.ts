// A private Docker daemon for the container tests (the flags of ../shared/tools/docker/dockerd-local.sh: no
// bridge, no iptables — it never touches the network), with two imported images: a static busybox with a shell,
// and one holding a single static binary (busybox renamed) and no shell at all.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BUSYBOX = '/bin/busybox';
export const SHELL_IMAGE = 'nsconsole-test/busybox:1';
export const NOSHELL_IMAGE = 'nsconsole-test/noshell:1';
/** The one program in the no-shell image (busybox renamed: it runs its applet by argv[0], so it is "sleep"). */
export const NOSHELL_BINARY = '/sleep';
/** dockerd takes 1-5 s to answer here; a loaded CI machine more. */
const DAEMON_START_TIMEOUT_MS = 60_000;
/** One docker CLI call (run, rm -f, import): seconds normally; a daemon that accepts and never answers must not hang a test. */
const DOCKER_CALL_TIMEOUT_MS = 60_000;
/** `docker info` while waiting for the daemon: it answers in milliseconds once up. */
const INFO_TIMEOUT_MS = 5_000;

export interface TestDaemon {
  socket: string;
  /** `docker …` against this daemon; throws with its stderr on failure */
  docker(...args: string[]): string;
  /** the same without blocking the event loop (the server under test runs in this process) */
  dockerAsync(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Why the daemon cannot run here, or null when it can be tried. */
export function cannotStartReason(): string | null {
  for (const bin of ['dockerd', 'docker']) {
    if (spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin]).status !== 0)
      return `${bin} is not installed (apt-get install docker.io; .ci/run does)`;
  }
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static; .ci/run does)`;
  return null;
}

export async function startDaemon(): Promise<TestDaemon> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsc-dockerd-'));
  const socket = path.join(dir, 'docker.sock');
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}` };
  let daemon: ChildProcess | null = null;
  const docker = (...args: string[]): string => {
    const r = spawnSync('docker', args, { env, encoding: 'utf8', timeout: DOCKER_CALL_TIMEOUT_MS });
    if (r.status !== 0)
      throw new Error(`docker ${args.join(' ')}: ${r.stderr || r.error?.message || `status ${r.status}`}`);
    return r.stdout.trim();
  };
  const stop = async () => {
    try {
      const ids = (
        spawnSync('docker', ['ps', '-aq'], { env, encoding: 'utf8', timeout: INFO_TIMEOUT_MS }).stdout ?? ''
      ).trim();
      if (ids)
        spawnSync('docker', ['rm', '-f', ...ids.split('\n')], {
          env,
          stdio: 'ignore',
          timeout: DOCKER_CALL_TIMEOUT_MS,
        });
    } finally {
      if (daemon?.pid && daemon.exitCode === null) {
        daemon.kill('SIGTERM');
        const deadline = Date.now() + 20_000;
        while (daemon.exitCode === null && daemon.signalCode === null && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
      }
      // Whatever the daemon left mounted under its dir (overlay layers; nsfs binds in its exec root, such as
      // netns/default for --network host containers): gone with it, deepest first.
      for (const target of mountsUnder(dir)) spawnSync('umount', ['--lazy', target], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    daemon = spawn(
      'dockerd',
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--data-root',
        path.join(dir, 'data'),
        '--exec-root',
        path.join(dir, 'exec'),
        '--pidfile',
        path.join(dir, 'dockerd.pid'),
        '-H',
        `unix://${socket}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: false },
    );
    let log = '';
    daemon.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
    for (;;) {
      if (spawnSync('docker', ['info'], { env, stdio: 'ignore', timeout: INFO_TIMEOUT_MS }).status === 0) break;
      if (daemon.exitCode !== null || Date.now() > deadline)
        throw new Error(`dockerd did not start: ${log.split('\n').slice(-5).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    importImages(dir, docker);
    const dockerAsync = (...args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn('docker', args, {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: DOCKER_CALL_TIMEOUT_MS,
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(out.trim()) : reject(new Error(`docker ${args.join(' ')}: ${err || `status ${code}`}`)),
        );
      });
    return { socket, docker, dockerAsync, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Mount points under `dir` in our mount table, deepest first (mountinfo escapes a space as \040). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) =>
      (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
    )
    .filter((target) => target.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

function importImages(dir: string, docker: (...args: string[]) => string): void {
  const withShell = path.join(dir, 'rootfs-shell');
  mkdirSync(path.join(withShell, 'bin'), { recursive: true });
  mkdirSync(path.join(withShell, 'etc'));
  copyFileSync(BUSYBOX, path.join(withShell, 'bin/busybox'));
  for (const applet of ['sh', 'ls', 'ps', 'cat', 'hostname', 'sleep', 'echo'])
    symlinkSync('busybox', path.join(withShell, 'bin', applet));
  tarImport(withShell, SHELL_IMAGE, docker);
  const noShell = path.join(dir, 'rootfs-noshell');
  mkdirSync(noShell);
  copyFileSync(BUSYBOX, path.join(noShell, NOSHELL_BINARY));
  tarImport(noShell, NOSHELL_IMAGE, docker);
}

function tarImport(rootfs: string, image: string, docker: (...args: string[]) => string): void {
  const tarball = `${rootfs}.tar`;
  const r = spawnSync('tar', ['-C', rootfs, '-cf', tarball, '.']);
  if (r.status !== 0) throw new Error(`tar ${rootfs}: ${r.stderr.toString()}`);
  docker('import', tarball, image);
}
