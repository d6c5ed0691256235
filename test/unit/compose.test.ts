// docker-compose.yml, the Dockerfile and .dockerignore are part of the product: the compose file is validated
// offline (docker-compose config) where the tool is installed, and the properties the security model and the
// container setup rely on are checked either way — the compose environment is fed to the server's own config
// parser. test/integration/compose.test.ts builds and runs all of it against a real Docker daemon.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../server/config/config.js';

const root = path.resolve(import.meta.dirname, '../..');
const composeFile = path.join(root, 'docker-compose.yml');
const text = readFileSync(composeFile, 'utf8');
const hasCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

interface Service {
  privileged?: boolean;
  pid?: string;
  network_mode?: string;
  ports?: unknown[];
  volumes?: unknown[];
  environment: Record<string, string>;
  healthcheck: { test: string[] };
}
const service = (parse(text) as { services: { nsconsole: Service } }).services.nsconsole;

/** `${VAR:-default}` as compose expands it with VAR unset. */
const unset = (v: string) => v.replace(/\$\{\w+:-([^}]*)\}/g, '$1');
/** The server's config from the compose environment alone (no flags), as the container starts it. */
const configFromCompose = () =>
  parseConfig([], Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, unset(String(v))])));

describe('docker-compose.yml', () => {
  it.runIf(hasCompose)('is valid for docker-compose, with and without a token in the environment', () => {
    for (const token of ['a-test-token-a-test-token', undefined]) {
      const env = { ...process.env };
      delete env.NSCONSOLE_TOKEN;
      if (token) env.NSCONSOLE_TOKEN = token;
      const r = spawnSync('docker-compose', ['-f', composeFile, 'config', '-q'], { env, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('without NSCONSOLE_TOKEN the server makes a random token (and prints it with the URL)', () => {
    expect(unset(service.environment.NSCONSOLE_TOKEN ?? 'missing')).toBe('');
    const a = configFromCompose();
    const b = configFromCompose();
    if (a.help || b.help) throw new Error('unexpected --help');
    expect(a.config.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.config.token).not.toBe(b.config.token);
  });

  it("runs privileged in the host's PID and network namespaces, on the host's loopback only", () => {
    expect(service.privileged).toBe(true);
    expect(service.pid).toBe('host');
    expect(service.network_mode).toBe('host');
    expect(service.ports).toBeUndefined();
    const parsed = configFromCompose();
    if (parsed.help) throw new Error('unexpected --help');
    expect(parsed.config.host).toBe('127.0.0.1');
    expect(parsed.config.port).toBe(4280);
  });

  it('mounts nothing from the host: the ns-dir is inside the container, the Docker socket is reached via /proc/1/root', () => {
    expect(service.volumes).toBeUndefined();
    const parsed = configFromCompose();
    if (parsed.help) throw new Error('unexpected --help');
    expect(parsed.config.nsDir).toBe('/run/nsconsole/ns');
    expect(parsed.config.dockerSocket).toBe('/proc/1/root/run/docker.sock');
  });

  it('has a healthcheck on /api/health at the configured port', () => {
    expect(service.healthcheck.test[0]).toBe('CMD');
    expect(service.healthcheck.test.join(' ')).toMatch(/127\.0\.0\.1:'\+process\.env\.NSCONSOLE_PORT\+'\/api\/health/);
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('compiles in a build stage and runs from a slim stage without the compiler', () => {
    expect(stages.map((s) => s.split('\n')[0])).toEqual(['node:20-bookworm-slim AS build', 'node:20-bookworm-slim']);
    const [buildStage, runtime] = stages as [string, string];
    expect(buildStage).toMatch(/apt-get install [^\n]*python3 make g\+\+/);
    expect(buildStage).toMatch(/npm ci/);
    expect(buildStage).toMatch(/npm prune --omit=dev/);
    expect(runtime).not.toMatch(/g\+\+|python3|\bmake\b/);
    expect(runtime).toMatch(/apt-get install [^\n]*util-linux mount/);
    expect(runtime).toMatch(/COPY --from=build \/app\/node_modules/);
  });

  it('.dockerignore sends only the sources: never node_modules or dist', () => {
    const rules = readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(rules[0]).toBe('*');
    expect(rules).toEqual(expect.arrayContaining(['**/node_modules', '**/dist']));
    expect(rules.filter((r) => r.startsWith('!'))).not.toContain('!node_modules');
  });
});
