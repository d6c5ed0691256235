// The live event stream (`GET /ws/events`, see shared/events.ts): one engine watch per socket. The upgrade
// handler has already checked auth, Origin and Host; this file caps the clients, speaks the protocol and owns
// the watch. Every watch costs the engine work (table reads, list scans), so both the number of streams and how
// often one may change its watch are bounded.
import type { IncomingMessage } from 'node:http';
import type WebSocket from 'ws';
import { EventsClientMessageSchema, type EventsServerMessage } from '../../shared/events.js';
import { CLOSE } from '../../shared/protocol.js';
import { TokenBucket, type Rate } from '../limits/token-bucket.js';
import type { Logger } from '../log.js';
import type { NamespaceEngine } from '../namespaces/engine.js';
import { messageJson } from '../namespaces/mounts-message.js';
import { Outbox } from './outbox.js';
import { LessonClientMessageSchema, type LessonPane, type LessonServerMessage } from '../../shared/lessons.js';
import { AppError } from '../errors.js';

type StreamMessage = EventsServerMessage | LessonServerMessage;

/**
 * Follows one lesson's progress for the socket's caller (LessonService.follow with the caller's identity: with
 * --sandbox their own run in their own sandbox); returns the unfollow.
 */
export type FollowLesson = (
  id: string,
  panes: Partial<Record<LessonPane, string>>,
  viewer: (msg: LessonServerMessage) => void,
) => () => void;

/**
 * A client that stops reading must not make us buffer tables without bound: above this many queued bytes,
 * only the newest message per topic (the list, each table) is kept and sent once the socket drains.
 */
const HIGH_WATERMARK_BYTES = 4 * 1024 * 1024;
/** How often a backed-up socket is checked for having drained. */
const DRAIN_CHECK_MS = 100;
/** A client backed up this long has stopped reading: it is closed with NOT_READING (a browser tab never is). */
export const EVENTS_STALL_LIMIT_MS = 30_000;
/**
 * Event streams at once. The browser opens one per tab; each is an engine subscriber whose list and tables are
 * re-sent to it on every change (the review measured 200 streams re-watching at 34% CPU, echo p95 376 ms).
 */
export const MAX_EVENT_CLIENTS = 64;
/** Per remote address, so that one client (or one script) cannot take every slot. */
export const MAX_EVENT_CLIENTS_PER_IP = 16;
/**
 * A watch change is applied at most this often per stream; changes in between are coalesced (the latest wins).
 * Clicking through namespaces stays responsive (the first change applies at once), a script re-watching in a
 * loop costs at most 4 table-set changes a second.
 */
export const WATCH_MIN_INTERVAL_MS = 250;
/**
 * Messages a stream may send: the browser sends one watch per selection change. A client far beyond this is a
 * script flooding us and is closed with TOO_MANY_MESSAGES (each message is parsed and validated before coalescing).
 */
export const EVENT_MESSAGE_RATE: Rate = { burst: 100, perSecond: 20 };

export interface EventStreamLimits {
  maxClients: number;
  maxClientsPerIp: number;
}

function topicOf(msg: StreamMessage): string {
  return msg.type === 'mounts' || msg.type === 'gone'
    ? `table:${msg.id}`
    : msg.type === 'lesson'
      ? `lesson:${msg.id}`
      : msg.type;
}

/** The event streams of one server, with their caps: `attach` takes each upgraded socket. */
/** `engine`: one for every stream, or (--sandbox) the one of the socket's caller: their sandbox's view. */
/** `lessons`: the lesson follower of the socket's caller. */
export function createEventStreams(
  engine: NamespaceEngine | ((req: IncomingMessage) => NamespaceEngine),
  log: Logger,
  limits: EventStreamLimits = { maxClients: MAX_EVENT_CLIENTS, maxClientsPerIp: MAX_EVENT_CLIENTS_PER_IP },
  lessons?: (req: IncomingMessage) => FollowLesson,
) {
  let total = 0;
  const perIp = new Map<string, number>();
  return {
    attach(ws: WebSocket, req: IncomingMessage): void {
      const ip = req.socket.remoteAddress ?? '';
      const fromIp = perIp.get(ip) ?? 0;
      if (total >= limits.maxClients || fromIp >= limits.maxClientsPerIp) {
        const which =
          total >= limits.maxClients
            ? `${limits.maxClients} event streams are open`
            : `${limits.maxClientsPerIp} event streams are open from ${ip}`;
        log.info({ ip, total, fromIp }, 'refusing an event stream over the cap');
        new Outbox(ws).close(CLOSE.TOO_MANY_CLIENTS, `too many event streams: ${which}`.slice(0, 120));
        return;
      }
      // Closed before we got here (the client gave up during the upgrade): no 'close' event would free a slot.
      if (ws.readyState !== ws.OPEN) return;
      total++;
      perIp.set(ip, fromIp + 1);
      ws.once('close', () => {
        total--;
        const left = (perIp.get(ip) ?? 1) - 1;
        if (left > 0) perIp.set(ip, left);
        else perIp.delete(ip);
      });
      attachEventClient(ws, typeof engine === 'function' ? engine(req) : engine, log, lessons?.(req));
    },
    get clients(): number {
      return total;
    },
  };
}

export function attachEventClient(
  ws: WebSocket,
  engine: NamespaceEngine,
  log: Logger,
  followLesson?: FollowLesson,
): void {
  // The outbox does not bound this socket by itself (limit Infinity): sends below are gated on the watermark and
  // coalesced per topic, which bounds what is queued to the watermark plus one message of each topic.
  const outbox = new Outbox(ws, { limit: Infinity });
  const pending = new Map<string, StreamMessage>();
  let drainTimer: NodeJS.Timeout | null = null;
  let backedUpSince: number | null = null;

  const flush = () => {
    drainTimer = null;
    if (outbox.closed) return;
    for (const [topic, msg] of pending) {
      if (ws.bufferedAmount > HIGH_WATERMARK_BYTES) break;
      pending.delete(topic);
      outbox.send(messageJson(msg));
    }
    if (pending.size === 0) {
      backedUpSince = null;
      return;
    }
    backedUpSince ??= Date.now();
    if (Date.now() - backedUpSince > EVENTS_STALL_LIMIT_MS)
      return outbox.close(CLOSE.NOT_READING, 'the client stopped reading');
    drainTimer = setTimeout(flush, DRAIN_CHECK_MS);
  };

  const send = (msg: StreamMessage) => {
    if (outbox.closed) return;
    if (pending.size === 0 && ws.bufferedAmount <= HIGH_WATERMARK_BYTES) {
      outbox.send(messageJson(msg));
      return;
    }
    // Replace any older message on the same topic: the newest table or list is all the client needs.
    pending.delete(topicOf(msg));
    pending.set(topicOf(msg), msg);
    backedUpSince ??= Date.now();
    drainTimer ??= setTimeout(flush, DRAIN_CHECK_MS);
  };
  const refuse = (code: string, message: string) =>
    outbox.refuse(JSON.stringify({ type: 'error', code, message } satisfies EventsServerMessage));

  // Closed before we got here (the client gave up during the upgrade): no 'close' event would ever free a watch.
  if (ws.readyState !== ws.OPEN) return;
  const watch = engine.watch(send, []);

  // Watch changes, coalesced: at most one per WATCH_MIN_INTERVAL_MS, the latest wins.
  let lastWatchAt = 0;
  let nextIds: string[] | null = null;
  let watchTimer: NodeJS.Timeout | null = null;
  const applyWatch = () => {
    watchTimer = null;
    if (nextIds === null || outbox.closed) return;
    lastWatchAt = Date.now();
    watch.setIds(nextIds);
    nextIds = null;
  };
  const changeWatch = (ids: string[]) => {
    nextIds = ids;
    const wait = lastWatchAt + WATCH_MIN_INTERVAL_MS - Date.now();
    if (wait <= 0 && watchTimer === null) return applyWatch();
    watchTimer ??= setTimeout(applyWatch, Math.max(0, wait));
  };

  // `{type:"lesson", id, panes}` (shared/lessons.ts): follow one lesson's progress; replaces the previous one.
  let unfollow: (() => void) | null = null;
  const onLesson = (raw: unknown) => {
    const parsed = LessonClientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return refuse(
        'BAD_REQUEST',
        issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'invalid message',
      );
    }
    unfollow?.();
    unfollow = null;
    if (!followLesson || parsed.data.id === null) return;
    try {
      unfollow = followLesson(parsed.data.id, parsed.data.panes, send);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      refuse(e.code, e.message);
    }
  };

  const messages = new TokenBucket(EVENT_MESSAGE_RATE);
  ws.on('message', (data, isBinary) => {
    if (outbox.closed) return;
    if (!messages.take()) return outbox.close(CLOSE.TOO_MANY_MESSAGES, 'too many messages');
    if (isBinary) return refuse('BAD_REQUEST', 'the event stream takes JSON text frames only');
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch {
      return refuse('INVALID_JSON', 'message is not valid JSON');
    }
    if ((raw as { type?: unknown } | null)?.type === 'lesson') return onLesson(raw);
    const parsed = EventsClientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return refuse(
        'BAD_REQUEST',
        issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'invalid message',
      );
    }
    changeWatch([...new Set(parsed.data.ids)]);
  });

  ws.once('close', () => {
    watch.dispose();
    unfollow?.();
    pending.clear();
    if (drainTimer) clearTimeout(drainTimer);
    if (watchTimer) clearTimeout(watchTimer);
    drainTimer = null;
    watchTimer = null;
  });
  ws.on('error', (err) => log.debug({ err }, 'event stream socket error'));
}
