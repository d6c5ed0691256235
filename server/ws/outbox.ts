// Everything the server sends on one WebSocket goes through its Outbox, so that no client — writer, viewer or
// event watcher — can make the server buffer without bound, whatever kind of message it provokes:
// - before every send, the bytes already queued in user space for the socket (`ws.bufferedAmount`: what the
//   kernel's socket buffer could not take) are checked; a peer that lets them pass the bound has stopped reading
//   and is closed with CLOSE.NOT_READING instead of being sent more;
// - replies to refused messages (READ_ONLY, a bad control message) are rate-limited, are not sent while earlier
//   ones are still queued, and a peer that keeps sending refused messages is closed with TOO_MANY_MESSAGES — for
//   every peer but a writer: it holds the owner token (it could run `yes`), so each of its mistakes is answered,
//   within the socket bound like everything else;
// - a socket closed for misbehaving gets ABORT_DEADLINE_MS to take the close frame, then it is destroyed (ws
//   would otherwise hold it, and what is queued for it, for its 30 s close timeout).
import WebSocket from 'ws';
import { CLOSE } from '../../shared/protocol.js';
import { TokenBucket, type Rate } from '../limits/token-bucket.js';

/**
 * The most bytes queued in user space for one socket before its peer counts as not reading. An honest client
 * acks what it has rendered, and an ack can only follow the bytes' arrival, so what sits in our buffer is never
 * more than its un-acked bytes: ≤ FLOW_HIGH_WATERMARK_BYTES (256 KB) for a writer, ≤ VIEWER_MAX_UNACKED_BYTES
 * (4 MB) for a viewer. Twice the larger leaves room for control messages and a slow link; a socket costs at most
 * this much (plus its replayed screen, below) whatever the peer does.
 */
export const SOCKET_BUFFER_LIMIT_BYTES = 8 * 1024 * 1024;
/**
 * What one queued frame costs beyond its bytes: the frame header and payload are two writes, each an entry in the
 * socket's write buffer with its Buffer object. Counted so that a flood of tiny messages (100-byte error replies)
 * is bounded like bulk output: 8 MB of them is 80k frames. Measured with a writer that stops reading and floods
 * refused messages (test/integration/ws-memory-bounds.test.ts): server RSS +100 MB before it was counted, +50 MB
 * after (the rest is the garbage of parsing the flood, collected later).
 */
export const FRAME_OVERHEAD_BYTES = 512;
/** A reply to a refused message is dropped while this much is still queued: the peer has not read the last ones. */
export const REPLY_MAX_QUEUED_BYTES = 64 * 1024;
/**
 * Refused messages a peer may send: a burst, then a steady rate. The browser never sends one (a viewer's xterm
 * has stdin disabled, messages come from the shared schema), so only a broken or hostile client gets near this;
 * beyond it the socket is closed with TOO_MANY_MESSAGES.
 */
export const REFUSED_MESSAGE_RATE: Rate = { burst: 50, perSecond: 10 };
/**
 * A socket closed for misbehaving is destroyed this long after the close frame was queued: time for a peer that
 * resumes reading to drain what was queued and learn the close code, short enough that it cannot hold the
 * buffer for ws's 30 s close timeout.
 */
export const ABORT_DEADLINE_MS = 5000;

export interface OutboxOptions {
  /** the bound on queued bytes (default SOCKET_BUFFER_LIMIT_BYTES); Infinity when the caller coalesces itself */
  limit?: number;
  /** called once when the socket is closed, by the outbox's own decision or by close() */
  onClosed?: (code: number) => void;
  /** how many refused messages the peer may send (default REFUSED_MESSAGE_RATE); null: answer each one */
  refusalRate?: Rate | null;
}

export class Outbox {
  private readonly limit: number;
  private readonly refusals: TokenBucket | null;
  /** bytes of a replayed screen still allowed above the limit (see send) */
  private allowance = 0;
  /** frames handed to ws whose write has not completed yet (their callback has not run) */
  private inFlight = 0;
  private readonly flushed = (): void => {
    this.inFlight--;
  };
  private closedWith: number | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly opts: OutboxOptions = {},
  ) {
    this.limit = opts.limit ?? SOCKET_BUFFER_LIMIT_BYTES;
    const rate = opts.refusalRate === undefined ? REFUSED_MESSAGE_RATE : opts.refusalRate;
    this.refusals = rate ? new TokenBucket(rate) : null;
  }

  /** true once this outbox closed the socket (or was asked to): nothing more is sent, input is ignored */
  get closed(): boolean {
    return this.closedWith !== null || this.ws.readyState !== WebSocket.OPEN;
  }

  /**
   * Sends one frame unless the socket is closing or the peer has stopped reading (then closes it with
   * NOT_READING and returns false). `replay` marks the screen a new client must get in one piece: its size is
   * allowed above the bound until the queue drains below the bound again (it is bounded by --scrollback).
   */
  send(data: string | Buffer, opts: { binary?: boolean; replay?: boolean } = {}): boolean {
    if (this.closed) return false;
    const queued = this.queued();
    if (queued <= this.limit) this.allowance = 0;
    else if (queued > this.limit + this.allowance) {
      this.close(CLOSE.NOT_READING, 'the client stopped reading');
      return false;
    }
    if (opts.replay) this.allowance += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.inFlight++;
    this.ws.send(data, { binary: opts.binary === true, compress: false }, this.flushed);
    return true;
  }

  /** What the socket holds in user space: its bytes, and the overhead of each frame not yet written. */
  private queued(): number {
    return this.ws.bufferedAmount + this.inFlight * FRAME_OVERHEAD_BYTES;
  }

  /**
   * Answers a refused message with `reply`: at most at the refusal rate, and not while earlier replies are still
   * queued (never faster than the peer reads). A peer over the rate is closed with TOO_MANY_MESSAGES. Without a
   * rate (a writer), every reply is sent, and send's bound applies.
   */
  refuse(reply: string): void {
    if (this.closed) return;
    if (!this.refusals) {
      this.send(reply);
      return;
    }
    if (!this.refusals.take()) return this.close(CLOSE.TOO_MANY_MESSAGES, 'too many refused messages');
    // Dropped, not queued: the peer has not read the previous replies, and it learns the same thing from them.
    if (this.queued() > REPLY_MAX_QUEUED_BYTES) return;
    this.send(reply);
  }

  /** Closes with `code`, and destroys the socket if the peer has not finished the close within the deadline. */
  close(code: number, reason: string): void {
    if (this.closedWith !== null) return;
    this.closedWith = code;
    const ws = this.ws;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      ws.close(code, reason);
      const deadline = setTimeout(() => ws.terminate(), ABORT_DEADLINE_MS);
      deadline.unref();
      ws.once('close', () => clearTimeout(deadline));
    }
    this.opts.onClosed?.(code);
  }
}
