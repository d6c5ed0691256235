// The repo's Dockerfile and docker-compose.yml, built and run against a private Docker daemon
// (./containers-daemon.ts) on a machine without a registry: the `node:20-bookworm-slim` base comes from the
// shared stand-in builder (make-node-base.sh: Debian bookworm + this machine's Node 20, apt and npm reachable),
// the build runs with the host's network (the daemon has no bridge), and `docker-compose up` runs the repo's
// file with a test override: a free port, the daemon's socket, and — where runc refuses `privileged: true`
// (this machine lacks CAP_SYS_RESOURCE) — every capability this machine has, AppArmor and seccomp off.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/server.js';

/** Where the shared docker tools are: $NSCONSOLE_DOCKER_TOOLS, shared/tools/docker above the checkout, /work/shared. */
export function dockerToolsDir(): string | null {
  const candidates = [process.env.NSCONSOLE_DOCKER_TOOLS ?? ''];
  for (let dir = REPO_ROOT; dir !== path.dirname(dir); dir = path.dirname(dir))
    candidates.push(path.join(path.dirname(dir), 'shared/tools/docker'));
  candidates.push('/work/shared/tools/docker');
  return candidates.find((d) => d !== '' && existsSync(path.join(d, 'make-node-base.sh'))) ?? null;
}

/** The compose command here: v2 (`docker compose`) if the plugin is installed, else v1 (`docker-compose`). */
export function composeCommand(): string[] | null {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  return null;
}

/** Capabilities by number, as Docker 20.10 names them (it refuses the newer PERFMON, BPF, CHECKPOINT_RESTORE). */
const CAPS = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
];

/** The capabilities in this process's bounding set: all a container started here can be given. */
export function boundingCaps(): string[] {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  const set = BigInt(`0x${hex}`);
  return CAPS.filter((_, bit) => (set >> BigInt(bit)) & 1n);
}

export interface Run {
  status: number | null;
  out: string;
}

export function runIn(env: NodeJS.ProcessEnv, cmd: string[], timeoutMs: number, cwd = REPO_ROOT): Run {
  const [bin, ...args] = cmd as [string, ...string[]];
  const r: SpawnSyncReturns<string> = spawnSync(bin, args, {
    env,
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
  return { status: r.status, out };
}

/** The last lines of a long log, for a failure message. */
export const tail = (text: string, lines = 30): string => text.trim().split('\n').slice(-lines).join('\n');

export interface OverrideOptions {
  port: number;
  dockerSocket: string;
  /** false: privileged is refused here; grant what this machine has instead */
  privileged: boolean;
}

/** The test's compose override file: only what differs from docker-compose.yml, each for a stated reason. */
export function writeOverride(file: string, o: OverrideOptions): void {
  const lines = [
    'services:',
    '  nsconsole:',
    '    environment:',
    `      NSCONSOLE_PORT: "${o.port}"`,
    `      NSCONSOLE_DOCKER_SOCKET: ${o.dockerSocket}`,
    // Under test, restarts would hide a crash.
    '    restart: "no"',
  ];
  if (!o.privileged)
    lines.push(
      '    privileged: false',
      `    cap_add: [${boundingCaps().join(', ')}]`,
      '    security_opt: [apparmor=unconfined, seccomp=unconfined]',
    );
  writeFileSync(file, lines.join('\n') + '\n');
}
