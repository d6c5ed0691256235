// The web app's files are sent compressed when the build left a compressed copy (issue #11: the first load's
// transferred size). A temp web root stands in for dist/web, with copies made here by zlib.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let webRoot: string;
const APP_JS = `export const app = ${JSON.stringify('nsconsole '.repeat(2000))};\n`;
const PLAIN_CSS = 'body { margin: 0 }\n'; // no compressed copy: always plain
const SECRET = 'bytes-from-outside-the-web-root';

beforeAll(async () => {
  webRoot = await mkdtemp(path.join(tmpdir(), 'nsconsole-webroot-'));
  await mkdir(path.join(webRoot, 'assets'));
  await writeFile(path.join(webRoot, 'index.html'), '<!doctype html><title>t</title>');
  const js = path.join(webRoot, 'assets/index-abc123.js');
  await writeFile(js, APP_JS);
  await writeFile(js + '.br', brotliCompressSync(APP_JS));
  await writeFile(js + '.gz', gzipSync(APP_JS));
  await writeFile(path.join(webRoot, 'assets/plain-def456.css'), PLAIN_CSS);
  // Outside the web root, beside it: must never be reachable.
  await writeFile(path.join(path.dirname(webRoot), `${path.basename(webRoot)}-secret.js.gz`), SECRET);
  srv = await startServer({}, { webRoot });
});
afterAll(async () => {
  await srv?.close();
  if (webRoot) {
    await rm(webRoot, { recursive: true, force: true });
    await rm(path.join(path.dirname(webRoot), `${path.basename(webRoot)}-secret.js.gz`), { force: true });
  }
});

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A GET that shows the bytes on the wire (fetch would decode them and choose Accept-Encoding itself). */
function rawGet(pathname: string, acceptEncoding?: string, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${srv.base}${pathname}`,
      { method, headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('static files', () => {
  it('sends the Brotli copy to a browser that accepts br, with the original type', async () => {
    const res = await rawGet('/assets/index-abc123.js', 'gzip, deflate, br, zstd');
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.headers['content-type']).toMatch(/^text\/javascript/);
    expect(res.headers['vary']).toMatch(/Accept-Encoding/i);
    expect(res.body.length).toBeLessThan(APP_JS.length / 10);
    expect(brotliDecompressSync(res.body).toString()).toBe(APP_JS);
  });

  it('sends the gzip copy when br is not accepted', async () => {
    const res = await rawGet('/assets/index-abc123.js', 'gzip');
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(res.body).toString()).toBe(APP_JS);
  });

  it('sends the plain file to a client that accepts no encoding, or refuses br and gzip', async () => {
    for (const accept of [undefined, 'identity', 'br;q=0, gzip;q=0']) {
      const res = await rawGet('/assets/index-abc123.js', accept);
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(res.body.toString()).toBe(APP_JS);
    }
  });

  it('sends a file without a compressed copy plain', async () => {
    const res = await rawGet('/assets/plain-def456.css', 'br, gzip');
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.body.toString()).toBe(PLAIN_CSS);
  });

  it('lets browsers keep hashed assets for a year, and revalidate the page that names them', async () => {
    const asset = await rawGet('/assets/index-abc123.js', 'br');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const plain = await rawGet('/assets/plain-def456.css');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const page = await rawGet('/', 'br, gzip');
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('public, max-age=0');
  });

  it('answers HEAD with the compressed headers and no body', async () => {
    const res = await rawGet('/assets/index-abc123.js', 'br', 'HEAD');
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.body.length).toBe(0);
  });

  it('never serves a compressed file outside the web root', async () => {
    const name = `${path.basename(webRoot)}-secret.js`;
    for (const p of [`/../${name}`, `/%2e%2e/${name}`, `/assets/%2e%2e/%2e%2e/${name}`, '/assets/%E0%A4%A']) {
      const res = await rawGet(p, 'gzip');
      expect(res.status, p).toBe(404);
      expect(res.body.toString(), p).not.toContain(SECRET);
    }
  });
});
