// The live event stream (`GET /ws/events`, see shared/events.ts): one engine watch per socket. The upgrade
// handler has already checked auth, Origin and Host; this file speaks the protocol and owns the watch.
import type WebSocket from 'ws';
import { EventsClientMessageSchema, type EventsServerMessage } from '../../shared/events.js';
import type { Logger } from '../log.js';
import type { NamespaceEngine } from '../namespaces/engine.js';
import { LessonClientMessageSchema, type LessonServerMessage } from '../../shared/lessons.js';
import { AppError } from '../http/errors.js';
import type { LessonService } from '../lessons/service.js';

type StreamMessage = EventsServerMessage | LessonServerMessage;

/**
 * A client that stops reading must not make us buffer tables without bound: above this many queued bytes,
 * only the newest message per topic (the list, each table) is kept and sent once the socket drains.
 */
const HIGH_WATERMARK_BYTES = 4 * 1024 * 1024;
/** How often a backed-up socket is checked for having drained. */
const DRAIN_CHECK_MS = 100;

function topicOf(msg: StreamMessage): string {
  return msg.type === 'mounts' || msg.type === 'gone' ? `table:${msg.id}` : msg.type === 'lesson' ? `lesson:${msg.id}` : msg.type;
}

export function attachEventClient(ws: WebSocket, engine: NamespaceEngine, log: Logger, lessons?: LessonService): void {
  const pending = new Map<string, StreamMessage>();
  let drainTimer: NodeJS.Timeout | null = null;

  const flush = () => {
    drainTimer = null;
    if (ws.readyState !== ws.OPEN) return;
    for (const [topic, msg] of pending) {
      if (ws.bufferedAmount > HIGH_WATERMARK_BYTES) break;
      pending.delete(topic);
      ws.send(JSON.stringify(msg));
    }
    if (pending.size > 0) drainTimer = setTimeout(flush, DRAIN_CHECK_MS);
  };

  const send = (msg: StreamMessage) => {
    if (ws.readyState !== ws.OPEN) return;
    if (pending.size === 0 && ws.bufferedAmount <= HIGH_WATERMARK_BYTES) {
      ws.send(JSON.stringify(msg));
      return;
    }
    // Replace any older message on the same topic: the newest table or list is all the client needs.
    pending.delete(topicOf(msg));
    pending.set(topicOf(msg), msg);
    drainTimer ??= setTimeout(flush, DRAIN_CHECK_MS);
  };

  // Closed before we got here (the client gave up during the upgrade): no 'close' event would ever free a watch.
  if (ws.readyState !== ws.OPEN) return;
  const watch = engine.watch(send, []);
  let unfollow: (() => void) | null = null;
  // `{type:"lesson", id, panes}` (shared/lessons.ts): follow one lesson's progress; replaces the previous one.
  const onLesson = (raw: unknown) => {
    const parsed = LessonClientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      send({ type: 'error', code: 'BAD_REQUEST', message: issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'invalid message' });
      return;
    }
    unfollow?.();
    unfollow = null;
    if (!lessons || parsed.data.id === null) return;
    try {
      unfollow = lessons.follow(parsed.data.id, parsed.data.panes, send);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      send({ type: 'error', code: e.code, message: e.message });
    }
  };

  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      send({ type: 'error', code: 'BAD_REQUEST', message: 'the event stream takes JSON text frames only' });
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch {
      send({ type: 'error', code: 'INVALID_JSON', message: 'message is not valid JSON' });
      return;
    }
    if ((raw as { type?: unknown } | null)?.type === 'lesson') return onLesson(raw);
    const parsed = EventsClientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      send({ type: 'error', code: 'BAD_REQUEST', message: issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'invalid message' });
      return;
    }
    watch.setIds([...new Set(parsed.data.ids)]);
  });

  ws.once('close', () => {
    watch.dispose();
    unfollow?.();
    pending.clear();
    if (drainTimer) clearTimeout(drainTimer);
    drainTimer = null;
  });
  ws.on('error', (err) => log.debug({ err }, 'event stream socket error'));
}
