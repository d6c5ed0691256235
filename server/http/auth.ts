// Who may talk to us: the token (Bearer or cookie), the Host allowlist (DNS rebinding) and the Origin check
// (cross-site WebSocket hijacking). Pure checks on an IncomingMessage so that both Express routes and the
// WebSocket upgrade use the very same rules.
import type { IncomingMessage } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { parse as parseCookie, serialize as serializeCookie } from 'cookie';

export const TOKEN_COOKIE = 'nsconsole_token';

export type Caller = { role: 'owner' } | { role: 'viewer'; sessionId: string };

export interface AuthDeps {
  token: string;
  /** lets a read-only share token through for the one session it was issued for */
  sessionIdForViewerToken(token: string): string | undefined;
  allowHosts: string[];
  host: string;
  /** the port actually listened on (known only after listen when --port 0) */
  port(): number;
}

export interface Auth {
  isOwnerToken(token: string | undefined): boolean;
  /** The caller named by the request's Bearer header or cookie, or null. */
  caller(req: IncomingMessage): Caller | null;
  /** the session a read-only share token is for, or undefined */
  viewerSession(token: string): string | undefined;
  hostAllowed(req: IncomingMessage): boolean;
  /** true when there is no Origin (not a browser) or it is our own origin */
  originAllowed(req: IncomingMessage): boolean;
  tokenCookie(token: string): string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function createAuth(deps: AuthDeps): Auth {
  // Hash both sides so timingSafeEqual gets equal lengths and the compare leaks nothing about the token.
  const ownerDigest = digest(deps.token);
  const isOwnerToken = (token: string | undefined): boolean => token !== undefined && timingSafeEqual(digest(token), ownerDigest);

  const presentedToken = (req: IncomingMessage): string | undefined => {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
    const cookies = req.headers.cookie ? parseCookie(req.headers.cookie) : {};
    return cookies[TOKEN_COOKIE];
  };

  const allowedHosts = (): Set<string> => {
    const port = deps.port();
    const names = new Set(['localhost', '127.0.0.1', '[::1]', deps.host.includes(':') ? `[${deps.host}]` : deps.host]);
    const out = new Set<string>();
    for (const n of names) {
      out.add(`${n}:${port}`.toLowerCase());
      if (port === 80) out.add(n.toLowerCase()); // browsers leave the default port out of Host
    }
    for (const h of deps.allowHosts) {
      out.add(h.toLowerCase());
      if (!/:\d+$/.test(h)) out.add(`${h}:${port}`.toLowerCase());
    }
    return out;
  };

  return {
    isOwnerToken,
    caller(req) {
      const token = presentedToken(req);
      if (token === undefined) return null;
      if (isOwnerToken(token)) return { role: 'owner' };
      const sessionId = deps.sessionIdForViewerToken(token);
      return sessionId ? { role: 'viewer', sessionId } : null;
    },
    viewerSession: (token) => deps.sessionIdForViewerToken(token),
    hostAllowed(req) {
      const host = req.headers.host?.toLowerCase();
      return host !== undefined && allowedHosts().has(host);
    },
    originAllowed(req) {
      const origin = req.headers.origin;
      if (origin === undefined) return true;
      const host = req.headers.host?.toLowerCase();
      return host !== undefined && (origin.toLowerCase() === `http://${host}` || origin.toLowerCase() === `https://${host}`);
    },
    tokenCookie(token) {
      return serializeCookie(TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/' });
    },
  };
}
