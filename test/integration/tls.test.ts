// --tls-cert/--tls-key: the real server process over HTTPS and WSS with a certificate made by openssl here;
// Secure cookies; the certificate re-read on SIGHUP; unreadable files are a start-up error naming the file;
// binding beyond loopback without TLS warns on stderr and prints a reachable URL.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { MAIN_JS, spawnServer, type ServerProcess } from '../helpers/process.js';
import { httpsRequest, makeCert } from '../helpers/tls.js';

const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'nsconsole-tls-'));
  dirs.push(d);
  return d;
};

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('TLS', () => {
  it('serves HTTPS and WSS, marks cookies Secure, and picks up a renewed certificate on SIGHUP', async () => {
    const dir = tempDir();
    const first = makeCert(dir, 'first');
    const live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
    copyFileSync(first.certFile, live.cert);
    copyFileSync(first.keyFile, live.key);
    const server = await spawnServer(['--tls-cert', live.cert, '--tls-key', live.key]);
    servers.push(server);
    expect(server.url.protocol).toBe('https:');
    expect(server.url.hostname).toBe('127.0.0.1');

    const auth = { authorization: `Bearer ${server.token}` };
    const health = await httpsRequest(`${server.base}/api/health`, {
      ca: [first.pem],
      headers: { cookie: 'nsconsole_token=old' },
    });
    expect(health.status).toBe(200);
    expect(health.fingerprint256).toBe(first.fingerprint256);
    const cookie = String(health.headers['set-cookie']);
    expect(cookie).toMatch(/nsconsole_token=;/);
    expect(cookie).toMatch(/;\s*Secure/i);

    const created = await httpsRequest(`${server.base}/api/sessions`, {
      ca: [first.pem],
      method: 'POST',
      headers: auth,
      body: { target: { kind: 'host' }, cols: 80, rows: 24 },
    });
    expect(created.status).toBe(201);
    const session = JSON.parse(created.body) as { id: string };

    // WSS: the terminal stream answers with its hello over the TLS socket.
    const ws = new WebSocket(`wss://127.0.0.1:${server.url.port}/ws/sessions/${session.id}`, {
      ca: [first.pem],
      headers: auth,
    });
    const hello = await new Promise<string>((resolve, reject) => {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) resolve(data.toString());
      });
      ws.once('error', reject);
    });
    expect(JSON.parse(hello)).toMatchObject({ type: 'hello' });
    ws.close();

    // Renewal: new files in place, SIGHUP; new connections see the new certificate, no restart.
    const second = makeCert(dir, 'second', 'nsconsole-test-renewed');
    copyFileSync(second.certFile, live.cert);
    copyFileSync(second.keyFile, live.key);
    server.child.kill('SIGHUP');
    const seen = await until('the renewed certificate', async () => {
      const r = await httpsRequest(`${server.base}/api/health`, { ca: [first.pem, second.pem] });
      return r.fingerprint256 === second.fingerprint256 ? r : undefined;
    });
    expect(seen.status).toBe(200);
    expect(server.child.exitCode).toBeNull();
  });

  it('refuses to start when the certificate file cannot be read, naming the file', async () => {
    const dir = tempDir();
    const cert = makeCert(dir, 'c');
    const missing = path.join(dir, 'missing.crt');
    await expect(spawnServer(['--tls-cert', missing, '--tls-key', cert.keyFile])).rejects.toThrow(
      new RegExp(`--tls-cert ${missing.replace(/[.]/g, '\\.')}: cannot read it \\(no such file\\)`),
    );
    await expect(spawnServer(['--tls-cert', cert.certFile, '--tls-key', cert.certFile])).rejects.toThrow(
      /--tls-key .*not a PEM private key/,
    );
  });

  it('warns on stderr when bound beyond loopback without TLS, and prints an address a browser can open', async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      [MAIN_JS, '--host', '0.0.0.0', '--port', '0', '--ns-dir', path.join(dir, 'ns')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise((r) => child.once('exit', r));
    try {
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      );
      const url = new URL(line.replace(/^nsconsole: /, ''));
      expect(url.hostname).not.toBe('0.0.0.0');
      await until('the warning', async () =>
        /WARNING: listening on 0\.0\.0\.0 without TLS/.test(stderr) ? true : undefined,
      );
      // the printed address is reachable and its Host is accepted
      const r = await fetch(`${url.origin}/api/health`);
      expect(r.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
