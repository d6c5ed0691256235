// The owner's credential in the browser. Opening `/?token=TOKEN` logs in: the token moves into localStorage —
// scoped to this origin (scheme, host AND port), so no other service on this host ever receives it, unlike a
// cookie, which every port of the host gets — and leaves the address bar and history. Every request then
// carries it itself: `Authorization: Bearer` on fetch, and a `token.<base64url>` entry next to the `nsconsole`
// subprotocol on WebSockets (browsers cannot set headers there; a URL would end up in logs and history).
// localStorage rather than sessionStorage: a second tab on the same origin works as it did with the cookie.

const STORAGE_KEY = 'nsconsole.token';
/** The subprotocol the server answers with (server/http/auth.ts WS_PROTOCOL). */
const WS_PROTOCOL = 'nsconsole';

/** Where the token lives when the browser refuses storage (a locked-down profile): this page only. */
let memoryToken: string | null = null;

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // Swallow: storage is disabled for this site; the token then lives in memory for this page
  }
}

/**
 * Take `?token=` out of the address (the server has already checked it) and keep it. Called once, before the
 * app mounts; other query parameters stay.
 */
export function adoptTokenFromUrl(): void {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token === null) return;
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  memoryToken = token;
  try {
    storage()?.setItem(STORAGE_KEY, token);
  } catch {
    // Swallow: storage full or refused; the token stays in memory for this page
  }
}

export function ownerToken(): string | null {
  try {
    return storage()?.getItem(STORAGE_KEY) ?? memoryToken;
  } catch {
    return memoryToken; // Swallow: storage refused; fall back to this page's copy
  }
}

/** The server refused the kept token (restarted with another one): forget it. */
export function forgetOwnerToken(): void {
  memoryToken = null;
  try {
    storage()?.removeItem(STORAGE_KEY);
  } catch {
    // Swallow: nothing stored where storage is refused
  }
}

export function authHeaders(): Record<string, string> {
  const token = ownerToken();
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

function base64url(s: string): string {
  let bin = '';
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The Sec-WebSocket-Protocol list for a socket: a viewer's share token when given (it makes the socket
 * read-only), else the owner's token when the browser has one.
 */
export function wsProtocols(viewToken?: string): string[] {
  if (viewToken !== undefined) return [WS_PROTOCOL, `view.${base64url(viewToken)}`];
  const token = ownerToken();
  return token === null ? [WS_PROTOCOL] : [WS_PROTOCOL, `token.${base64url(token)}`];
}
