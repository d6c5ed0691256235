// TLS for `--tls-cert/--tls-key`: the PEM files read (and checked) at start and again on SIGHUP, so a renewed
// certificate takes effect for new connections without a restart. Also: which address the printed URL names,
// and whether a bind address is loopback (binding beyond it without TLS is warned about).
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { networkInterfaces, hostname } from 'node:os';
import { ConfigError } from '../config/config.js';

export interface TlsFiles {
  cert: string;
  key: string;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ConfigError(`${flag} ${file}: cannot read it (${why})`);
  }
}

/** Both files, read now and checked by building a secure context from them: a clear error names the file. */
export function loadTls(files: TlsFiles): SecureContextOptions {
  const cert = readPem(files.cert, '--tls-cert');
  const key = readPem(files.key, '--tls-key');
  try {
    createSecureContext({ cert });
  } catch (e) {
    throw new ConfigError(`--tls-cert ${files.cert}: not a PEM certificate (${(e as Error).message})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new ConfigError(
      `--tls-key ${files.key}: not a PEM private key matching --tls-cert ${files.cert} (${(e as Error).message})`,
    );
  }
  return { cert, key };
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h === '::ffff:127.0.0.1';
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/**
 * The host the printed URL names: the bind address, unless it is a wildcard (`0.0.0.0`, `::`), which no browser
 * can open: then the first non-internal IPv4 interface address (IPv6 if there is none), else the hostname.
 */
export function reachableHost(bindHost: string, interfaces = networkInterfaces(), name = hostname()): string {
  if (!WILDCARDS.has(bindHost)) return bindHost;
  const all = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal);
  const wantV4 = bindHost === '0.0.0.0';
  const pick =
    all.find((a) => a.family === 'IPv4') ??
    (wantV4 ? undefined : all.find((a) => a.family === 'IPv6' && !a.address.startsWith('fe80')));
  return pick?.address ?? name;
}

export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
