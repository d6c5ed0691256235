// The repo's Dockerfile and docker-compose.yml for real (issue #10.4): the image builds from a small context in
// two stages, `docker-compose up` gives a server that prints its URL with a random token, sees and enters the
// host's namespaces and containers, persists namespaces the host can reach, and `down` ends it on SIGTERM with
// nothing left. Runs against a private Docker daemon (./containers-daemon.ts) with the stand-in base image
// (./compose-project.ts); skips with a warning where no daemon can start or no base image can be made.
// Not testable here, said where it matters: `privileged: true` itself (runc refuses it on this machine, so the
// override grants every capability the machine has, AppArmor and seccomp off), and an image from the real
// registry's node:20-bookworm-slim.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerList, Namespace, NamespaceList } from '../../shared/api.js';
import { freePort } from '../helpers/net.js';
import { REPO_ROOT } from '../helpers/server.js';
import { TermClient } from '../helpers/term-client.js';
import { cannotStartReason, SHELL_IMAGE, startDaemon, type TestDaemon } from './containers-daemon.js';
import { composeCommand, dockerToolsDir, runIn, tail, writeOverride, type Run } from './compose-project.js';

/** The stand-in base: ~1 min here (debootstrap of a minimal bookworm), several on a slow mirror. */
const BASE_TIMEOUT_MS = 6 * 60_000;
/** The image: ~2 min here (apt for the compiler, npm ci compiling node-pty, tsc and vite on 2 busy cores). */
const BUILD_TIMEOUT_MS = 10 * 60_000;
/** up, stop, down, exec: seconds each normally. */
const COMPOSE_TIMEOUT_MS = 120_000;
/** All of beforeAll: the daemon, the base and the build, one after the other. */
const SETUP_TIMEOUT_MS = 18 * 60_000;
/** The URL line once the container runs: the server starts in about a second. */
const URL_TIMEOUT_MS = 30_000;
/** The build context the daemon receives: the sources are ~1 MB; a checkout's node_modules would be 200+. */
const MAX_CONTEXT_MB = 10;

const IMAGE = 'nsconsole:local';
const skipReason = cannotStartReason() ?? (composeCommand() ? null : 'neither docker compose nor docker-compose');
let setupError: string | null = skipReason;
let daemon: TestDaemon | null = null;
const work = mkdtempSync(path.join(tmpdir(), 'nsc-compose-'));
const project = `nsctest${randomBytes(3).toString('hex')}`;
let env: NodeJS.ProcessEnv = {};
let compose: (...args: string[]) => Run = () => ({ status: 1, out: 'not set up' });
let build: Run | null = null;
let privileged = true;
let port = 0;
let url: URL | null = null;
let token = '';

/** Not a test result: the environment cannot run this (no daemon, no base image). */
function skipAll(why: string): void {
  setupError = why;
  console.warn(`compose.test.ts: SKIPPED — ${why}`);
}

function containerId(): string {
  return runIn(env, [...(composeCommand() as string[]), ...composeArgs(), 'ps', '-q', 'nsconsole'], COMPOSE_TIMEOUT_MS)
    .out.trim()
    .split('\n')[0] as string;
}

function composeArgs(): string[] {
  return [
    '-p',
    project,
    '--project-directory',
    REPO_ROOT,
    '-f',
    path.join(REPO_ROOT, 'docker-compose.yml'),
    '-f',
    path.join(work, 'override.yml'),
  ];
}

async function up(): Promise<Run> {
  port = await freePort();
  const dockerSocket = `/proc/${process.pid}/root${(daemon as TestDaemon).socket}`;
  writeOverride(path.join(work, 'override.yml'), { port, dockerSocket, privileged });
  return compose('up', '-d', '--no-build');
}

beforeAll(async () => {
  if (skipReason) return skipAll(skipReason);
  try {
    daemon = await startDaemon();
  } catch (err) {
    return skipAll(`a private Docker daemon cannot start here: ${(err as Error).message}`);
  }
  env = { ...process.env, DOCKER_HOST: `unix://${daemon.socket}`, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' };
  // The compose file's defaults are under test: none of the developer's own settings may leak in.
  for (const k of Object.keys(env)) if (k.startsWith('NSCONSOLE_')) delete env[k];
  const cmd = composeCommand() as string[];
  compose = (...args) => runIn(env, [...cmd, ...composeArgs(), ...args], COMPOSE_TIMEOUT_MS);

  const tools = dockerToolsDir();
  const base = tools
    ? runIn(
        env,
        [path.join(tools, 'make-node-base.sh'), 'node:20-bookworm-slim', path.join(work, 'base')],
        BASE_TIMEOUT_MS,
      )
    : runIn(env, ['docker', 'pull', 'node:20-bookworm-slim'], BASE_TIMEOUT_MS);
  if (base.status !== 0)
    return skipAll(
      `no node:20-bookworm-slim base image here (${tools ? 'stand-in builder' : 'no stand-in builder found; docker pull'} failed): ${tail(base.out, 5)}`,
    );
  // The image is what compose's `build: .` builds; built by the docker CLI to see what the daemon was sent.
  build = runIn(env, ['docker', 'build', '--network', 'host', '-t', IMAGE, '.'], BUILD_TIMEOUT_MS);
  if (build.status !== 0) return;

  let started = await up();
  if (started.status !== 0 && /privileged|apply caps|operation not permitted/i.test(started.out)) {
    console.warn(
      `compose.test.ts: runc refuses privileged: true here; running with every capability this machine has, AppArmor and seccomp off instead (${tail(started.out, 2)})`,
    );
    compose('down');
    privileged = false;
    started = await up();
  }
  if (started.status !== 0) throw new Error(`docker-compose up failed:\n${tail(started.out)}`);
  const deadline = Date.now() + URL_TIMEOUT_MS;
  for (;;) {
    const m = /nsconsole: (http:\/\/\S+)/.exec(compose('logs', '--no-color', 'nsconsole').out);
    if (m) {
      url = new URL(m[1] as string);
      token = url.searchParams.get('token') ?? '';
      break;
    }
    if (Date.now() > deadline) throw new Error(`no URL line in the logs:\n${tail(compose('logs', '--no-color').out)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  try {
    if (daemon) {
      compose('down', '--remove-orphans');
      await daemon.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 120_000);

const api = (pathname: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${port}${pathname}`, {
    ...init,
    headers: {
      authorization: `Bearer ${token}`,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });

async function shellIn(target: object): Promise<TermClient> {
  const res = await api('/api/sessions', { method: 'POST', body: JSON.stringify({ target, cols: 200 }) });
  if (res.status !== 201) throw new Error(`POST /api/sessions → ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const c = new TermClient(
    new WebSocket(`ws://127.0.0.1:${port}/ws/sessions/${id}`, { headers: { authorization: `Bearer ${token}` } }),
  );
  await c.waitForMessage('hello');
  return c;
}

/** Every mount-table line on the machine (all processes' mountinfo) naming nsfs inode `ino`. */
function bindsOf(ino: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n'))
        if (line.includes(`mnt:[${ino}]`)) found.push(`${pid}: ${line}`);
    } catch {
      // Swallow: a process that exited meanwhile, or one we may not read (PID 1 here): nothing of ours.
    }
  }
  return found;
}

describe.skipIf(skipReason !== null)('docker-compose.yml on a Docker host', () => {
  const it_ = (name: string, fn: () => Promise<void> | void, timeoutMs = 60_000) =>
    it(
      name,
      async (ctx) => {
        if (setupError) return ctx.skip();
        await fn();
      },
      timeoutMs,
    );

  it_('the image builds in two stages from a small context: node-pty loads, no compiler in the runtime', () => {
    expect(build?.status, tail(build?.out ?? '')).toBe(0);
    const sent = /Sending build context to Docker daemon\s+([\d.]+)([kMG]?B)/.exec(build?.out ?? '');
    expect(sent, 'the legacy builder reports the context size').not.toBeNull();
    const mb = Number(sent?.[1]) * ({ B: 1e-6, kB: 1e-3, MB: 1, GB: 1e3 }[sent?.[2] as string] ?? 1);
    expect(mb).toBeLessThan(MAX_CONTEXT_MB);
    const probe = runIn(
      env,
      [
        'docker',
        'run',
        '--rm',
        '--network',
        'none',
        IMAGE,
        'sh',
        '-c',
        `node -e "require('node-pty'); console.log('pty ok')"; for t in g++ make python3; do command -v $t || echo "no $t"; done; for t in nsenter unshare mount; do command -v $t; done`,
      ],
      COMPOSE_TIMEOUT_MS,
    );
    expect(probe.out).toContain('pty ok');
    expect(probe.out).toMatch(
      /no g\+\+\nno make\nno python3\n\/usr\/bin\/nsenter\n\/usr\/bin\/unshare\n\/usr\/bin\/mount/,
    );
  });

  it_('up prints the URL with a random token; health answers; the token works and a wrong one does not', async () => {
    expect(url?.host).toBe(`127.0.0.1:${port}`);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(await (await fetch(`http://127.0.0.1:${port}/api/health`)).json()).toMatchObject({ ok: true });
    expect((await api('/api/namespaces')).status).toBe(200);
    const wrong = await fetch(`http://127.0.0.1:${port}/api/namespaces`, { headers: { authorization: 'Bearer x' } });
    expect(wrong.status).toBe(401);
    // The compose file's own healthcheck command, run where Docker runs it.
    const health = runIn(env, ['docker', 'inspect', '-f', '{{json .Config.Healthcheck.Test}}', containerId()], 10_000);
    const test = JSON.parse(health.out) as string[];
    expect(test[0]).toBe('CMD');
    expect(runIn(env, ['docker', 'exec', containerId(), ...test.slice(1)], COMPOSE_TIMEOUT_MS).status).toBe(0);
  });

  it_("sees the host's namespaces and its containers by name, and enters both", async () => {
    const d = daemon as TestDaemon;
    const name = `nsc-compose-${randomBytes(3).toString('hex')}`;
    d.docker('run', '-d', '--name', name, '--network', 'none', '--hostname', 'boxy', SHELL_IMAGE, 'sleep', '1000');
    const marker = path.join(work, 'marker');
    writeFileSync(marker, `host-file-${randomBytes(4).toString('hex')}\n`);
    const clients: TermClient[] = [];
    try {
      const hostMnt = `mnt:${statSync('/proc/self/ns/mnt').ino}`;
      const list = (await (await api('/api/namespaces')).json()) as NamespaceList;
      expect(list.namespaces.map((n: Namespace) => n.id)).toContain(hostMnt);
      const deadline = Date.now() + 10_000;
      let containers: ContainerList = { containers: [] };
      while (!containers.containers.some((c) => c.name === name) && Date.now() < deadline)
        containers = (await (await api('/api/containers')).json()) as ContainerList;
      expect(containers.containers.find((c) => c.name === name)).toMatchObject({
        runtime: 'docker',
        image: SHELL_IMAGE,
      });

      const inHost = await shellIn({ kind: 'namespace', id: hostMnt });
      clients.push(inHost);
      inHost.type(`echo "seen=$(cat ${marker})"\r`);
      await inHost.waitForText(`seen=${readFileSync(marker, 'utf8').trim()}`);

      const inBox = await shellIn({ kind: 'container', id: name });
      clients.push(inBox);
      inBox.type('echo "host=$(hostname)"\r');
      await inBox.waitForText('host=boxy');
    } finally {
      for (const c of clients) c.dispose();
      d.docker('rm', '-f', name);
    }
  });

  it_(
    'a persisted namespace is reached from the host through the server process, and down leaves nothing',
    async () => {
      const res = await api('/api/namespaces', { method: 'POST', body: JSON.stringify({ type: 'mnt', name: 'demo' }) });
      expect(res.status, await res.clone().text()).toBe(201);
      const created = (await res.json()) as Namespace;
      const id = containerId();
      const pid = runIn(env, ['docker', 'inspect', '-f', '{{.State.Pid}}', id], 10_000).out.trim();
      const onHost = `/proc/${pid}/root/run/nsconsole/ns/demo`;
      expect(`mnt:${statSync(onHost).ino}`).toBe(created.id);
      expect(spawnSync('nsenter', [`--mount=${onHost}`, '--', 'true']).status).toBe(0);
      expect(bindsOf(created.inode).length).toBeGreaterThan(0);

      // stop: SIGTERM, and the server ends its sessions and exits 0 well before Docker's SIGKILL (137).
      expect(compose('stop').status).toBe(0);
      const state = runIn(env, ['docker', 'inspect', '-f', '{{.State.ExitCode}}', id], 10_000).out.trim();
      expect(state).toBe('0');
      expect(compose('logs', '--no-color', 'nsconsole').out).toMatch(/"signal":"SIGTERM","msg":"shutting down"/);
      expect(compose('down').status).toBe(0);
      expect(runIn(env, ['docker', 'ps', '-aq', '--filter', `id=${id}`], 10_000).out.trim()).toBe('');
      // Nothing of it on the host: no bind of the persisted namespace anywhere, no mount of an ns-dir.
      expect(bindsOf(created.inode)).toEqual([]);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/ \/run\/nsconsole\b/);
    },
  );
});
