// Who the caller is. The one place that turns a request into a user name (the sandbox feature keys sandboxes
// by it): the token holder is the admin user TOKEN_USER; behind an identity-aware proxy (oauth2-proxy and the
// like) the user is the value of `--auth-header`, believed only when the TCP peer is a `--trusted-proxy`.
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** With --proxy-secret-file, the proxy proves itself with this header (a TCP peer address alone can be anyone local). */
export const PROXY_SECRET_HEADER = 'x-nsconsole-proxy-secret';

/** The token holder's user name. Starts with `@`, which a proxy-given name may not, so nobody can become it. */
export const TOKEN_USER = '@token';
/** Longer than any real login or e-mail address; a bigger header value is an attack or a bug. */
export const MAX_USER_LENGTH = 256;

export interface Identity {
  user: string;
  admin: boolean;
  via: 'token' | 'header';
}

/** The reason a proxy-given user name is refused, or null when it is fine. */
export function badUserName(name: string): string | null {
  if (name.length === 0) return 'empty user name';
  if (name.length > MAX_USER_LENGTH) return `user name longer than ${MAX_USER_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\x00-\x1f\x7f]/.test(name)) return 'control character in user name';
  if (name.trim() !== name) return 'user name with surrounding whitespace';
  if (name.startsWith('@')) return 'user name starting with @ (reserved)';
  return null;
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: a dual-stack socket reports IPv4 peers mapped. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? (m[1] as string) : address;
}

/** A matcher for `--trusted-proxy` CIDRs (already validated by the config). */
export function trustedProxies(cidrs: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits] = cidr.split('/') as [string, string | undefined];
    const type = isIPv4(addr) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (address) => {
    const a = plainAddress(address);
    if (isIPv4(a)) return list.check(a, 'ipv4');
    if (isIPv6(a)) return list.check(a, 'ipv6');
    return false;
  };
}

export interface IdentityConfig {
  authHeader?: string;
  trustedProxies: readonly string[];
  admins: readonly string[];
  proxySecret?: string;
}

export type HeaderIdentity =
  | { kind: 'none' }
  | { kind: 'user'; identity: Identity }
  | { kind: 'bad'; reason: string; value: string }
  | { kind: 'untrusted'; value: string };

/** What `--auth-header` says about this request (header, peer address): see HeaderIdentity. */
export function createHeaderIdentity(
  cfg: IdentityConfig,
): (headers: Record<string, string | string[] | undefined>, peer: string | undefined) => HeaderIdentity {
  const trusted = trustedProxies(cfg.trustedProxies);
  const admins = new Set(cfg.admins);
  const header = cfg.authHeader?.toLowerCase();
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const secretDigest = cfg.proxySecret === undefined ? undefined : digest(cfg.proxySecret);
  const provesProxy = (headers: Record<string, string | string[] | undefined>): boolean => {
    if (secretDigest === undefined) return true;
    const presented = headers[PROXY_SECRET_HEADER];
    return typeof presented === 'string' && timingSafeEqual(digest(presented), secretDigest);
  };
  return (headers, peer) => {
    if (header === undefined) return { kind: 'none' };
    const raw = headers[header];
    if (raw === undefined) return { kind: 'none' };
    // Node joins repeated headers with ", " (or gives an array): two user names are never one identity.
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    if (!trusted(peer) || !provesProxy(headers)) return { kind: 'untrusted', value: value.slice(0, MAX_USER_LENGTH) };
    if (Array.isArray(raw) && raw.length > 1)
      return { kind: 'bad', reason: 'the user header was sent more than once', value: value.slice(0, MAX_USER_LENGTH) };
    const reason = badUserName(value);
    if (reason) return { kind: 'bad', reason, value: value.slice(0, MAX_USER_LENGTH) };
    return { kind: 'user', identity: { user: value, admin: admins.has(value), via: 'header' } };
  };
}
