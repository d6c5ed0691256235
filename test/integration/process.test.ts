import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MAIN_JS, isZombie, processAlive, spawnServer, type ServerProcess } from '../helpers/process.js';

let proc: ServerProcess | undefined;
afterEach(async () => {
  await proc?.stop();
  proc = undefined;
});

describe('nsconsole process', () => {
  it('prints one URL line with the picked port and token, and serves it', async () => {
    proc = await spawnServer(['--token', 'a-fixed-test-token-123']);
    expect(proc.url.hostname).toBe('127.0.0.1');
    expect(Number(proc.url.port)).toBeGreaterThan(0);
    expect(proc.token).toBe('a-fixed-test-token-123');
    const res = await fetch(`${proc.base}/api/health`);
    expect(res.status).toBe(200);
  });

  it('answers --help and exits 0; a bad flag exits 2 with a message', () => {
    const help = spawnSync(process.execPath, [MAIN_JS, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--ns-dir');
    const bad = spawnSync(process.execPath, [MAIN_JS, '--port', 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--port');
  });

  it('names a port already in use in words and suggests --port 0, without a stack trace', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const dir = await mkdtemp(path.join(tmpdir(), 'nsconsole-busy-'));
    try {
      const { port } = holder.address() as AddressInfo;
      const nsDir = path.join(dir, 'ns');
      const r = spawnSync(process.execPath, [MAIN_JS, '--port', String(port), '--ns-dir', nsDir], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(r.stderr).toContain('--port 0');
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
      spawnSync('umount', ['--recursive', '--lazy', path.join(dir, 'ns')], { stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on SIGTERM ends every session process group and exits within 5 s', async () => {
    proc = await spawnServer();
    const auth = { authorization: `Bearer ${proc.token}`, 'content-type': 'application/json' };
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${proc.base}/api/sessions`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 }),
      });
      expect(res.status).toBe(201);
      pids.push(((await res.json()) as { pid: number }).pid);
    }
    for (const pid of pids) expect(processAlive(pid)).toBe(true);
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const code = await proc.exited;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(code).toBe(0);
    // Orphaned zombies are reaped by init a moment later: poll rather than sample once.
    for (const pid of pids) await expect.poll(() => processAlive(pid) && !isZombie(pid), { timeout: 2000 }).toBe(false);
  });
});

describe('nsconsole without privileges', () => {
  const NOBODY = 65534;
  it('still serves host shells, and answers namespace actions with a clear 403', async () => {
    proc = await spawnServer([], { uid: NOBODY });
    const auth = { authorization: `Bearer ${proc.token}`, 'content-type': 'application/json' };
    const session = await fetch(`${proc.base}/api/sessions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 }),
    });
    expect(session.status).toBe(201);
    const list = await fetch(`${proc.base}/api/namespaces`, { headers: auth });
    expect(list.status).toBe(200);
    const created = await fetch(`${proc.base}/api/namespaces`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ type: 'mnt', name: 'x' }),
    });
    expect(created.status).toBe(403);
    const body = (await created.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('NOT_PRIVILEGED');
    expect(body.error.message).toMatch(/root|CAP_SYS_ADMIN/);
  });
});
