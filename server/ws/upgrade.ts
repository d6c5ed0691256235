// WebSocket upgrades: a run of guard clauses that each answer a status and stop, then the hand-off to the
// stream the path names. Servers are `noServer`, so nothing is upgraded before these checks pass.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE, type ServerMessage } from '../../shared/protocol.js';
import { handshakeCredential, selectProtocol, WS_VIEW_PREFIX, type Auth, type Caller } from '../http/auth.js';
import { ERROR_CODES, errorBody, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { Outbox } from './outbox.js';

/** Keystrokes and pastes; a paste bigger than this is refused with close 1009. */
export const TERMINAL_MAX_PAYLOAD = 1024 * 1024;
/** Event-stream messages are tiny watch lists. */
export const EVENTS_MAX_PAYLOAD = 64 * 1024;

const SESSION_PATH = /^\/ws\/sessions\/([A-Za-z0-9_-]{1,64})$/;

export interface UpgradeDeps {
  auth: Auth;
  log: Logger;
  /** whether the session exists for this caller (another user's session does not: 404) */
  sessionExists(id: string, caller: Caller): boolean;
  /** called once the terminal upgrade is admitted, before it is answered (the audit log's attach line) */
  beforeTerminal?(req: IncomingMessage, sessionId: string, caller: Caller): void;
  /** the session a share token was for, once its shell has exited (the link is dead, and says so) */
  endedViewerSession(token: string): string | undefined;
  onTerminal(ws: WebSocket, sessionId: string, caller: Caller): void;
  /** the stream closes the socket itself when it is over its client caps */
  onEvents(ws: WebSocket, req: IncomingMessage): void;
}

export interface UpgradeHandler {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  servers: WebSocketServer[];
  /** closes every socket with 1001 (server going away) */
  close(): void;
}

export function createUpgradeHandler(deps: UpgradeDeps): UpgradeHandler {
  const terminals = new WebSocketServer({
    noServer: true,
    maxPayload: TERMINAL_MAX_PAYLOAD,
    perMessageDeflate: false,
    handleProtocols: selectProtocol,
  });
  const events = new WebSocketServer({
    noServer: true,
    maxPayload: EVENTS_MAX_PAYLOAD,
    perMessageDeflate: false,
    handleProtocols: selectProtocol,
  });

  const handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {
      // Swallow: the peer went away mid-handshake; nothing to answer.
    });
    if (!deps.auth.hostAllowed(req)) return reject(socket, 'FORBIDDEN_HOST', 'Host is not allowed');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // `GET //` and the like: nothing may throw out of an 'upgrade' listener (it would end the process).
      return reject(socket, 'NOT_FOUND', 'no such WebSocket endpoint');
    }
    const sessionMatch = SESSION_PATH.exec(url.pathname);
    if (!sessionMatch && url.pathname !== '/ws/events')
      return reject(socket, 'NOT_FOUND', 'no such WebSocket endpoint');
    if (!deps.auth.originAllowed(req))
      return reject(socket, 'FORBIDDEN_ORIGIN', 'WebSocket from another origin refused');
    const caller = callerOf(deps.auth, req, url);
    if (!caller) {
      // A share link of a shell that has exited: upgraded only to be closed with SESSION_EXITED, the one answer a
      // browser can read (it never sees the HTTP status of a refused upgrade).
      const view = viewToken(req, url);
      if (sessionMatch && view !== null && deps.endedViewerSession(view) === sessionMatch[1]) {
        return terminals.handleUpgrade(req, socket, head, (ws) => {
          const outbox = new Outbox(ws);
          outbox.send(
            JSON.stringify({
              type: 'error',
              code: 'SESSION_EXITED',
              message: 'the shell has exited: this share link has ended',
            } satisfies ServerMessage),
          );
          outbox.close(CLOSE.SESSION_EXITED, 'session exited');
        });
      }
      deps.auth.authFailed(req);
      return reject(socket, 'UNAUTHORIZED', 'missing or wrong token');
    }

    if (!sessionMatch) {
      if (caller.role !== 'owner') return reject(socket, 'UNAUTHORIZED', 'a viewer token opens only its session');
      events.handleUpgrade(req, socket, head, (ws) => {
        events.emit('connection', ws, req);
        deps.onEvents(ws, req);
      });
      return;
    }
    const sessionId = sessionMatch[1] as string;
    if (caller.role === 'viewer' && caller.sessionId !== sessionId)
      return reject(socket, 'UNAUTHORIZED', 'this viewer token is for another session');
    if (!deps.sessionExists(sessionId, caller)) return reject(socket, 'SESSION_NOT_FOUND', 'no such session');
    deps.beforeTerminal?.(req, sessionId, caller);
    terminals.handleUpgrade(req, socket, head, (ws) => {
      terminals.emit('connection', ws, req);
      deps.onTerminal(ws, sessionId, caller);
    });
  };

  return {
    handle(req, socket, head) {
      try {
        handle(req, socket, head);
      } catch (err) {
        deps.log.error({ err }, 'upgrade handler failed');
        socket.destroy();
      }
    },
    servers: [terminals, events],
    close() {
      for (const wss of [terminals, events]) {
        for (const ws of wss.clients) ws.close(1001, 'server shutting down');
        wss.close();
      }
    },
  };
}

/**
 * An explicit share token — `view.<base64url>` in the subprotocol list (what the browser sends) or `?view=TOKEN`
 * (API clients) — makes the caller a viewer, even when the owner's token comes along. Else the owner token from
 * the Bearer header or the `token.` subprotocol entry.
 */
function callerOf(auth: Auth, req: IncomingMessage, url: URL): Caller | null {
  const view = viewToken(req, url);
  if (view === null) return auth.caller(req);
  const sessionId = auth.viewerSession(view);
  return sessionId ? { role: 'viewer', sessionId } : null;
}

/** The share token a handshake presents: `view.<base64url>` in the subprotocol list, or `?view=`; null if none. */
export function viewToken(req: IncomingMessage, url: URL): string | null {
  return handshakeCredential(req, WS_VIEW_PREFIX) ?? url.searchParams.get('view');
}

export function reject(socket: Duplex, code: ErrorCode, message: string): void {
  const status = ERROR_CODES[code].status;
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  return (
    ({ 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' } as Record<number, string>)[
      status
    ] ?? 'Error'
  );
}
