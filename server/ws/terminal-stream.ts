// The terminal stream protocol on one WebSocket (`GET /ws/sessions/:id`), after the upgrade guards passed:
// binary frames are raw terminal bytes both ways, text frames are JSON control messages validated with the
// shared schema. A bad control message is answered with an error message and the socket stays open — a client
// bug should not cost the user their terminal. The session (terminals/session.ts) does the rest.
//
// Resize policy: the most recent resize from a writer wins; the pty, the replay screen and every attached
// client follow it (clients get `{type:"resized"}`). Viewers cannot resize: a read-only watcher with a small
// window must not reflow the owner's shell.
import type WebSocket from 'ws';
import { CLOSE, parseClientMessage, type ServerMessage } from '../../shared/protocol.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Attachment, TerminalClient, TerminalSession } from '../terminals/session.js';
import type { TerminalRegistry } from '../terminals/registry.js';
import { Outbox } from './outbox.js';
import type { UpgradeDeps } from './upgrade.js';

type ServerErrorCode = Extract<ServerMessage, { type: 'error' }>['code'];

/** `{"type":"ack","bytes":N}` as JSON.stringify writes it; the range check below mirrors the schema's. */
const ACK_FAST_PATH = /^\{"type":"ack","bytes":(0|[1-9][0-9]*)\}$/;
const MAX_ACK_BYTES = 1 << 30;

/** The byte count of a canonical ack message; undefined for anything else (the caller parses it fully). */
export function fastAckBytes(text: string): number | undefined {
  const m = ACK_FAST_PATH.exec(text);
  if (!m || (m[1] as string).length > 10) return undefined;
  const n = Number(m[1]);
  return n <= MAX_ACK_BYTES ? n : undefined;
}

/** The upgrade handler's terminal half: which session ids exist, and attaching a client (viewers read-only). */
export function terminalUpgrades(
  registry: Pick<TerminalRegistry, 'get' | 'sessionIdForEndedViewerToken'>,
  log: Logger,
): Pick<UpgradeDeps, 'sessionExists' | 'endedViewerSession' | 'onTerminal'> {
  return {
    sessionExists: (id) => registry.get(id) !== undefined,
    endedViewerSession: (token) => registry.sessionIdForEndedViewerToken(token),
    onTerminal: (ws, id, caller) => {
      const session = registry.get(id);
      if (!session) return ws.close(CLOSE.SESSION_NOT_FOUND, 'no such session');
      attachTerminalClient(ws, session, { readOnly: caller.role === 'viewer', log });
    },
  };
}

export function attachTerminalClient(
  ws: WebSocket,
  session: TerminalSession,
  opts: { readOnly: boolean; log: Logger },
): void {
  let attachment: Attachment | undefined;
  // Whoever closes the socket (we, for misbehaving; the session, at exit), the session stops sending to it now,
  // not when the peer finally completes the close.
  // A writer's mistakes are all answered (it holds the owner token); a viewer's are rate-limited (outbox.ts).
  const outbox = new Outbox(ws, {
    onClosed: () => attachment?.detach(),
    ...(opts.readOnly ? {} : { refusalRate: null }),
  });
  const sendMessage = (msg: ServerMessage): void => {
    outbox.send(JSON.stringify(msg));
  };
  const client: TerminalClient = {
    readOnly: opts.readOnly,
    sendOutput(bytes, replay) {
      outbox.send(bytes, { binary: true, replay });
    },
    sendMessage,
    close(code, reason) {
      outbox.close(code, reason);
    },
  };

  try {
    attachment = session.attach(client);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    sendMessage({ type: 'error', code: err.code, message: err.message });
    outbox.close(err.closeCode, err.code);
    return;
  }
  const attached = attachment;

  const refuse = (code: ServerErrorCode, message: string) =>
    outbox.refuse(JSON.stringify({ type: 'error', code, message } satisfies ServerMessage));
  const ack = (bytes: number) => {
    if (attached.ack(bytes)) return;
    opts.log.info({ session: session.id, bytes }, 'closing a client that acked more than it was sent');
    sendMessage({ type: 'error', code: 'BAD_ACK', message: 'acked more output than was sent' });
    outbox.close(CLOSE.BAD_ACK, 'acked more than was sent');
  };

  ws.on('message', (data, isBinary) => {
    // Frames still arrive while a close we started completes; they get no answer and do nothing.
    if (outbox.closed) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) {
      if (opts.readOnly) return refuse('READ_ONLY', 'this is a read-only view: input is not accepted');
      return attached.input(bytes);
    }
    const text = bytes.toString('utf8');
    // The ack is the one control message on the hot path (one per output frame): its canonical form is matched
    // directly, skipping JSON.parse and the schema. Anything else, or any other spelling, takes the full path.
    const acked = fastAckBytes(text);
    if (acked !== undefined) return ack(acked);
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return refuse(parsed.code, parsed.message);
    const msg = parsed.msg;
    switch (msg.type) {
      case 'ack':
        return ack(msg.bytes);
      case 'resize':
        if (opts.readOnly) return refuse('READ_ONLY', 'this is a read-only view: it cannot resize the terminal');
        return attached.resize(msg.cols, msg.rows);
    }
  });
  ws.once('close', () => attached.detach());
  ws.on('error', (err) => {
    // Logged only: 'close' always follows an error, and that detaches the client.
    opts.log.debug({ err, session: session.id }, 'terminal socket error');
  });
}
