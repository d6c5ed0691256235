// Who may talk to us: the token (Bearer header, or in a WebSocket handshake's subprotocol list), the Host
// allowlist (DNS rebinding) and the Origin check (cross-site WebSocket hijacking). Pure checks on an
// IncomingMessage so that both Express routes and the WebSocket upgrade use the very same rules.
//
// No cookie: cookies are scoped to a host, not a port, so a cookie set by 127.0.0.1:4280 goes to every other
// service on 127.0.0.1 (issue #15.3). The browser keeps the token in origin-scoped storage (scheme, host AND
// port) and sends it itself: `Authorization: Bearer` on fetch, and `token.<base64url>` next to the `nsconsole`
// subprotocol on WebSockets (a browser cannot set headers there; a URL would end up in logs and history).
import type { IncomingMessage } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { serialize as serializeCookie } from 'cookie';
import type { Audit } from '../audit/audit.js';
import { createHeaderIdentity, plainAddress, TOKEN_USER, type IdentityConfig } from '../identity/identity.js';

/** The cookie older versions logged the browser in with; only ever cleared now. */
export const LEGACY_TOKEN_COOKIE = 'nsconsole_token';
/** The subprotocol the server answers with; the credential entries next to it are never echoed back. */
export const WS_PROTOCOL = 'nsconsole';
/** `token.<base64url of the owner token>`: the owner's credential in a WebSocket handshake. */
export const WS_TOKEN_PREFIX = 'token.';
/** `view.<base64url of a share token>`: a read-only viewer's credential in a WebSocket handshake. */
export const WS_VIEW_PREFIX = 'view.';

/**
 * A signed-in user (`role: 'owner'`: the token holder, or a user named by a trusted proxy) or a share-link
 * viewer of one session. `user` keys everything per person (sessions, sandboxes); the token is TOKEN_USER.
 */
export type Caller = { role: 'owner'; user: string; admin: boolean } | { role: 'viewer'; sessionId: string };

export interface AuthDeps {
  token: string;
  /** lets a read-only share token through for the one session it was issued for */
  sessionIdForViewerToken(token: string): string | undefined;
  allowHosts: string[];
  host: string;
  /** served over TLS: every cookie gets `Secure` */
  secure?: boolean;
  /** `--auth-header` and whom to believe it from; absent: the token only */
  identity?: IdentityConfig;
  audit?: Audit;
  /** the port actually listened on (known only after listen when --port 0) */
  port(): number;
}

export interface Auth {
  isOwnerToken(token: string | undefined): boolean;
  /**
   * The caller: a user named by a trusted proxy's `--auth-header`, else the request's Bearer header or
   * handshake `token.` subprotocol; null when none authenticates. Decided once per request (memoized).
   */
  caller(req: IncomingMessage): Caller | null;
  /** Audits `auth.fail` for a request that needed a caller and has none (call once, just before the 401). */
  authFailed(req: IncomingMessage, reason?: string): void;
  /** the session a read-only share token is for, or undefined */
  viewerSession(token: string): string | undefined;
  hostAllowed(req: IncomingMessage): boolean;
  /** true when there is no Origin (not a browser) or it is our own origin */
  originAllowed(req: IncomingMessage): boolean;
  /** A Set-Cookie value that makes a browser drop the legacy token cookie, or null when the request has none. */
  clearLegacyCookie(req: IncomingMessage): string | null;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function createAuth(deps: AuthDeps): Auth {
  // Hash both sides so timingSafeEqual gets equal lengths and the compare leaks nothing about the token.
  const ownerDigest = digest(deps.token);
  const isOwnerToken = (token: string | undefined): boolean =>
    token !== undefined && timingSafeEqual(digest(token), ownerDigest);

  const presentedToken = (req: IncomingMessage): string | undefined => {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
    return handshakeCredential(req, WS_TOKEN_PREFIX);
  };

  const headerIdentity = createHeaderIdentity(deps.identity ?? { trustedProxies: [], admins: [] });
  const decided = new WeakMap<IncomingMessage, { caller: Caller | null; failure?: string }>();

  const decide = (req: IncomingMessage): { caller: Caller | null; failure?: string } => {
    const ip = plainAddress(req.socket.remoteAddress);
    const fromHeader = headerIdentity(req.headers, req.socket.remoteAddress);
    if (fromHeader.kind === 'user')
      return { caller: { role: 'owner', user: fromHeader.identity.user, admin: fromHeader.identity.admin } };
    // A trusted proxy vouching for a bad name is refused outright, even with a token: the proxy is the way in.
    if (fromHeader.kind === 'bad') return { caller: null, failure: fromHeader.reason };
    // From anywhere else the header is ignored (the token may still authenticate) and recorded: someone tried.
    if (fromHeader.kind === 'untrusted')
      deps.audit?.record({
        user: null,
        ip,
        action: 'auth.untrusted_header',
        claimed: fromHeader.value,
        path: pathOf(req),
      });
    const token = presentedToken(req);
    if (token === undefined)
      return {
        caller: null,
        failure:
          fromHeader.kind === 'untrusted' ? 'user header from an untrusted address, and no token' : 'no credential',
      };
    if (isOwnerToken(token)) return { caller: { role: 'owner', user: TOKEN_USER, admin: true } };
    const sessionId = deps.sessionIdForViewerToken(token);
    return sessionId ? { caller: { role: 'viewer', sessionId } } : { caller: null, failure: 'wrong token' };
  };
  const decision = (req: IncomingMessage) => {
    let d = decided.get(req);
    if (!d) decided.set(req, (d = decide(req)));
    return d;
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
    caller: (req) => decision(req).caller,
    authFailed(req, reason) {
      const d = decision(req);
      deps.audit?.record({
        user: null,
        ip: plainAddress(req.socket.remoteAddress),
        action: 'auth.fail',
        reason: reason ?? d.failure ?? 'not allowed here',
        path: pathOf(req),
      });
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
      return (
        host !== undefined && (origin.toLowerCase() === `http://${host}` || origin.toLowerCase() === `https://${host}`)
      );
    },
    clearLegacyCookie(req) {
      if (!req.headers.cookie?.includes(`${LEGACY_TOKEN_COOKIE}=`)) return null;
      return serializeCookie(LEGACY_TOKEN_COOKIE, '', {
        httpOnly: true,
        secure: deps.secure === true,
        sameSite: 'strict',
        path: '/',
        maxAge: 0,
        expires: new Date(0),
      });
    },
  };
}

/** Subprotocol entries are HTTP tokens; base64url keeps any token (a --token may hold `/`, `=`, …) within them. */
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The credential a WebSocket handshake carries as `PREFIX<base64url>` in Sec-WebSocket-Protocol, decoded, or
 * undefined. Only upgrades carry that header, and only the first entry with the prefix counts.
 */
export function handshakeCredential(req: IncomingMessage, prefix: string): string | undefined {
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return undefined;
  for (const entry of header.split(',')) {
    const p = entry.trim();
    if (!p.startsWith(prefix)) continue;
    const encoded = p.slice(prefix.length);
    return BASE64URL.test(encoded) ? Buffer.from(encoded, 'base64url').toString('utf8') : undefined;
  }
  return undefined;
}

/** ws's handleProtocols: answer `nsconsole` and nothing else (never echo a credential entry back). */
export function selectProtocol(protocols: Set<string>): string | false {
  return protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}

/** The request's path without its query: a query may carry a token (`/?token=`, `?view=`), never audited. */
export function pathOf(req: IncomingMessage): string {
  // Express rewrites req.url inside a mounted router; originalUrl is what the client asked for.
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
  return url.split('?')[0] ?? '';
}
