// REST client. Each request carries the owner's token as `Authorization: Bearer` (./credentials.ts; no cookie).
// Every failure becomes an ApiError whose `message` is plain words for the person at the console; `detail`
// keeps the server's text. Every answer is checked against the shared schemas.
import * as z from 'zod/mini';
import { authHeaders, forgetOwnerToken } from './credentials.js';
import {
  ErrorBodySchema,
  MountTableSchema,
  NamespaceListSchema,
  NamespaceSchema,
  SessionInfoSchema,
  SessionListSchema,
  ShareLinkSchema,
  WhoAmISchema,
  SandboxInfoSchema,
  type SandboxInfoWire,
  type WhoAmI,
  type Mount,
  type Namespace,
  type NamespaceList,
  type SessionInfo,
  type ShareLink,
  type Target,
} from '../../../shared/api.js';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

/** What each stable error code means to a person; the server's own message follows as the detail. */
const PLAIN: Record<string, string> = {
  UNAUTHORIZED: 'Not signed in: open the link nsconsole printed (the one with ?token=) again.',
  NOT_PRIVILEGED: 'The server is not allowed to do that: it needs to run as root (CAP_SYS_ADMIN).',
  BAD_NAME: 'That name cannot be used: use letters, digits, ".", "_" or "-" (at most 64, not starting with ".").',
  NS_EXISTS: 'A namespace with that name already exists.',
  NS_NOT_FOUND: 'That namespace no longer exists.',
  NS_NOT_OURS: 'That namespace was not created by nsconsole, so it will not delete it.',
  NS_BUSY: 'That namespace is still in use.',
  NS_DIR_UNSAFE:
    'nsconsole refuses its namespace directory: another user could redirect it. Fix its owner and permissions (see the detail).',
  SESSION_NOT_FOUND: 'That shell session has ended.',
  TOO_MANY_SESSIONS: 'Too many shells are open; close some first.',
  TOO_MANY_USER_SESSIONS: 'You have as many shells open as one person may; close one of yours first.',
  TARGET_CHANGED: 'The process moved to another namespace before the shell could start; try again.',
  KERNEL_ERROR: 'The kernel refused.',
  RATE_LIMITED: 'Too many requests; wait a moment.',
};

export function plainMessage(code: string, detail: string): string {
  const plain = PLAIN[code];
  if (!plain) return detail || code;
  return detail && detail !== plain ? `${plain} (${detail})` : plain;
}

/** One JSON request with the owner's credential; a failure is an ApiError. Exported for the lesson client (lessons-api.ts). */
export async function request(method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'omit', // nothing of ours is a cookie; the credential is the header
      headers: {
        ...authHeaders(),
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new ApiError('NETWORK', 0, 'Cannot reach the nsconsole server.', e instanceof Error ? e.message : String(e));
  }
  if (res.status === 204) return undefined;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined; // not JSON (e.g. a proxy's HTML error page): the checks below report it in words
  }
  if (!res.ok) {
    const parsed = ErrorBodySchema.safeParse(json);
    const err = parsed.success ? parsed.data.error : null;
    const code = err?.code ?? (res.status === 401 ? 'UNAUTHORIZED' : `HTTP_${res.status}`);
    if (code === 'UNAUTHORIZED') forgetOwnerToken(); // a server restarted with another token: the kept one is dead
    const detail = err?.message ?? `${res.status} ${res.statusText}`.trim();
    throw new ApiError(code, res.status, plainMessage(code, detail), detail);
  }
  return json;
}

/** The answer checked against the shared schema: never `json as T`. */
export function expect<T>(schema: z.ZodMiniType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new ApiError('BAD_RESPONSE', 0, `The server sent an unexpected answer for ${what}.`, what);
  return r.data;
}

/** `GET /api/sandbox` (--sandbox): the raw answer, checked by the caller (state/sandbox.svelte.ts). */
export async function getSandbox(): Promise<SandboxInfoWire> {
  return expect(SandboxInfoSchema, await request('GET', '/api/sandbox'), 'the sandbox');
}

/** `POST /api/sandbox/reset`: destroys the caller's sandbox and makes a new one. */
export async function resetSandbox(): Promise<SandboxInfoWire> {
  return expect(SandboxInfoSchema, await request('POST', '/api/sandbox/reset'), 'the new sandbox');
}

export async function listNamespaces(): Promise<NamespaceList> {
  return expect(NamespaceListSchema, await request('GET', '/api/namespaces'), 'the namespace list');
}

export async function getMounts(id: string): Promise<Mount[]> {
  return expect(
    MountTableSchema,
    await request('GET', `/api/namespaces/${encodeURIComponent(id)}/mounts`),
    'a mount table',
  ).mounts;
}

export async function createNamespace(name: string): Promise<Namespace> {
  return expect(NamespaceSchema, await request('POST', '/api/namespaces', { type: 'mnt', name }), 'the new namespace');
}

export async function deleteNamespace(id: string): Promise<void> {
  await request('DELETE', `/api/namespaces/${encodeURIComponent(id)}`);
}

export async function createSession(target: Target, cols: number, rows: number): Promise<{ id: string; pid: number }> {
  const v = expect(
    SessionInfoSchema,
    await request('POST', '/api/sessions', { target, cols, rows }),
    'the new shell session',
  );
  return { id: v.id, pid: v.pid };
}

export async function deleteSession(id: string): Promise<void> {
  await request('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
}

/** `ws://host/path` or `wss://…` for the page's own origin. */
export function wsUrl(path: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

/** One session, or null when the server no longer has it. */
export async function getSession(id: string): Promise<SessionInfo | null> {
  try {
    return expect(
      SessionInfoSchema,
      await request('GET', `/api/sessions/${encodeURIComponent(id)}`),
      'a shell session',
    );
  } catch (e) {
    if (e instanceof ApiError && e.code === 'SESSION_NOT_FOUND') return null;
    throw e;
  }
}

/** Who the server says we are (`GET /api/whoami`): the proxy-given user, or `@token` for the token. */
export async function whoami(): Promise<WhoAmI> {
  return expect(WhoAmISchema, await request('GET', '/api/whoami'), 'who you are');
}

/** Every session this caller may see (an admin: all of them, each with its `owner`). */
export async function listSessions(): Promise<SessionInfo[]> {
  return expect(SessionListSchema, await request('GET', '/api/sessions'), 'the session list').sessions;
}

/** A read-only link to one session; `url` is absolute (for pasting elsewhere). */
export async function createShareLink(id: string): Promise<ShareLink> {
  const v = expect(
    ShareLinkSchema,
    await request('POST', `/api/sessions/${encodeURIComponent(id)}/share`),
    'the share link',
  );
  return { token: v.token, url: new URL(v.url, location.origin).href };
}

/**
 * Whether a session still lives: true/false, or null when that cannot be told (server unreachable). Used when a
 * terminal socket keeps failing before `hello`, where the browser is not told why (e.g. an HTTP 404 upgrade).
 */
export async function sessionAlive(id: string): Promise<boolean | null> {
  try {
    const s = await getSession(id);
    return s !== null && s.exited === null;
  } catch {
    return null; // unreachable or refused: keep retrying, the socket will tell us more
  }
}

/** Whether the server answers at all (`GET /api/health` needs no token, so a viewer may ask). */
export async function serverReachable(): Promise<boolean> {
  try {
    await request('GET', '/api/health');
    return true;
  } catch {
    return false;
  }
}
