// One terminal session's WebSocket (`/ws/sessions/:id`), reconnecting by itself with backoff while the session
// lives. Binary frames are output bytes; text frames are validated control messages. Each (re)connect is a new
// `generation`, so acks for bytes of an earlier socket are never sent on a later one. The credential rides in
// the subprotocol list (a browser cannot set headers on a WebSocket): the owner's token, or a read-only
// viewer's share token.
import { CLOSE } from '../../../shared/constants.js';
import { parseServerMessage, type ClientMessage, type ServerMessage } from '../../../shared/protocol.js';
import { sessionAlive, wsUrl } from '../lib/api.js';
import { wsProtocols } from '../lib/credentials.js';
import { Backoff } from '../lib/backoff.js';

export type LinkState = 'connecting' | 'connected' | 'reconnecting';
export type EndReason = { kind: 'exited' } | { kind: 'gone' } | { kind: 'refused'; message: string };

export interface SessionSocketHandlers {
  output(bytes: Uint8Array, generation: number): void;
  control(msg: ServerMessage): void;
  link(state: LinkState, attempt: number): void;
  /** the session is over (or will never accept us); no more reconnects */
  ended(reason: EndReason): void;
}

/** After this many attempts that never reached `hello`, ask the REST API whether the session still exists. */
const CHECK_ALIVE_AFTER_FAILURES = 2;

export interface SessionSocketOptions {
  /** a read-only share token (sent in the subprotocol list); the server then refuses input and resizes */
  viewToken?: string;
  /** whether the session still lives (null: cannot tell); the default asks the REST API, which needs the owner */
  alive?: (sessionId: string) => Promise<boolean | null>;
}

export class SessionSocket {
  private ws: WebSocket | null = null;
  private gen = 0;
  private failuresBeforeHello = 0;
  private helloSeen = false;
  private exitSeen = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff = new Backoff();
  private done = false;

  constructor(
    readonly sessionId: string,
    private readonly handlers: SessionSocketHandlers,
    private readonly options: SessionSocketOptions = {},
  ) {}

  get generation(): number {
    return this.gen;
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.helloSeen;
  }

  start(): void {
    this.connect();
  }

  sendBytes(bytes: Uint8Array<ArrayBuffer>): void {
    if (this.open) this.ws!.send(bytes);
  }

  sendControl(msg: ClientMessage): void {
    if (this.open) this.ws!.send(JSON.stringify(msg));
  }

  dispose(): void {
    this.done = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(CLOSE.NORMAL);
  }

  private connect(): void {
    if (this.done) return;
    const generation = ++this.gen;
    this.helloSeen = false;
    this.handlers.link(generation === 1 ? 'connecting' : 'reconnecting', this.backoff.attempts);
    const ws = new WebSocket(
      wsUrl(`/ws/sessions/${encodeURIComponent(this.sessionId)}`),
      wsProtocols(this.options.viewToken),
    );
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      if (ev.data instanceof ArrayBuffer) {
        this.handlers.output(new Uint8Array(ev.data), generation);
        return;
      }
      if (typeof ev.data !== 'string') return;
      const msg = parseServerMessage(ev.data);
      if (!msg) {
        console.warn('nsconsole: ignored a control message the client does not understand', ev.data.slice(0, 200));
        return;
      }
      if (msg.type === 'hello') {
        this.helloSeen = true;
        this.failuresBeforeHello = 0;
        this.backoff.reset();
        this.handlers.link('connected', 0);
      } else if (msg.type === 'exit') {
        this.exitSeen = true;
      }
      this.handlers.control(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.done) return;
      this.ws = null;
      void this.afterClose(ev.code, ev.reason);
    };
    // onerror is always followed by onclose, which decides what happens next.
  }

  private async afterClose(code: number, reason: string): Promise<void> {
    if (this.exitSeen || code === CLOSE.SESSION_EXITED) return this.end({ kind: 'exited' });
    if (code === CLOSE.SESSION_NOT_FOUND) return this.end({ kind: 'gone' });
    if (code === CLOSE.TOO_MANY_CLIENTS) {
      return this.end({ kind: 'refused', message: reason || 'Too many browser tabs are attached to this shell.' });
    }
    if (!this.helloSeen && ++this.failuresBeforeHello >= CHECK_ALIVE_AFTER_FAILURES) {
      const alive = await (this.options.alive ?? sessionAlive)(this.sessionId);
      if (this.done) return;
      if (alive === false) return this.end({ kind: 'gone' });
    }
    this.handlers.link('reconnecting', this.backoff.attempts + 1);
    this.retryTimer = setTimeout(() => this.connect(), this.backoff.next());
  }

  private end(reason: EndReason): void {
    if (this.done) return;
    this.done = true;
    this.handlers.ended(reason);
  }
}
