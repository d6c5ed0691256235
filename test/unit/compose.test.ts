// docker-compose.yml is part of the product: validate it offline (docker-compose config -q) where the tool is
// installed, and check the properties the security model relies on either way.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const composeFile = path.join(root, 'docker-compose.yml');
const text = readFileSync(composeFile, 'utf8');
const hasCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

describe('docker-compose.yml', () => {
  it.runIf(hasCompose)('is valid for docker-compose', () => {
    const r = spawnSync('docker-compose', ['-f', composeFile, 'config', '-q'], {
      env: { ...process.env, NSCONSOLE_TOKEN: 'a-test-token-a-test-token' },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.runIf(hasCompose)('refuses to start without a token in the environment', () => {
    const env = { ...process.env };
    delete env.NSCONSOLE_TOKEN;
    const r = spawnSync('docker-compose', ['-f', composeFile, 'config', '-q'], { env, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('NSCONSOLE_TOKEN');
  });

  it('runs privileged with the host PID namespace, published on loopback only', () => {
    expect(text).toMatch(/^\s+privileged: true$/m);
    expect(text).toMatch(/^\s+pid: host$/m);
    const ports = [...text.matchAll(/^\s+- "([^"]+:\d+:\d+)"$/gm)].map((m) => m[1]);
    expect(ports).toEqual(['127.0.0.1:4280:4280']);
  });

  it('has a healthcheck on /api/health and the ns-dir on a volume', () => {
    expect(text).toMatch(/healthcheck:[\s\S]*\/api\/health/);
    expect(text).toMatch(/target: \/run\/nsconsole\b/);
    expect(text).toMatch(/NSCONSOLE_NS_DIR: \/run\/nsconsole\/ns/);
  });
});
