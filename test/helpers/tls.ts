// Self-signed certificates made with openssl for TLS tests, and an https client that trusts them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';

export interface TestCert {
  certFile: string;
  keyFile: string;
  pem: string;
  fingerprint256: string;
}

/** A self-signed certificate for 127.0.0.1/localhost (argv array, no shell), written to dir/name.{crt,key}. */
export function makeCert(dir: string, name: string, cn = 'nsconsole-test'): TestCert {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const pem = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, pem, fingerprint256: new X509Certificate(pem).fingerprint256 };
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** the certificate the server presented */
  fingerprint256: string;
}

/** One request on a fresh connection (no keep-alive), trusting only `ca`. */
export function httpsRequest(
  url: string,
  opts: { ca: string[]; method?: string; headers?: Record<string, string>; body?: unknown },
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers = {
      ...opts.headers,
      ...(body !== undefined
        ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
        : {}),
    };
    const req = https.request(url, { ca: opts.ca, method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      const fingerprint256 = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, fingerprint256 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
