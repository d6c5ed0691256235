// The live event stream (`/ws/events`): one socket that reconnects by itself and re-sends the current watch
// set after every (re)connect. Plain TypeScript; the namespaces state owns one and reflects its status.
import { parseEventsMessage, type EventsClientMessage, type EventsServerMessage } from '../../../shared/events.js';
import { Backoff } from './backoff.js';
import type { LessonClientMessage, LessonServerMessage } from '../../../shared/lessons.js';
import { wsUrl } from './api.js';
import { wsProtocols } from './credentials.js';

export type LinkStatus = 'connecting' | 'connected' | 'reconnecting';

export interface EventsHandlers {
  message(msg: EventsServerMessage): void;
  status(status: LinkStatus): void;
  /** called after every successful (re)connect, so the owner can refresh what it may have missed */
  connected(): void;
  /** the followed lesson's progress */
  lesson?(msg: LessonServerMessage): void;
}

export class EventsSocket {
  private ws: WebSocket | null = null;
  private watchIds: string[] = [];
  private followed: LessonClientMessage | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff = new Backoff();
  private disposed = false;

  constructor(private readonly handlers: EventsHandlers) {}

  start(): void {
    this.connect('connecting');
  }

  /** Replace the set of namespaces whose mount tables are pushed. */
  watch(ids: string[]): void {
    this.watchIds = ids;
    this.sendWatch();
  }

  /** Follow a lesson with these panes (id null: stop); re-sent after every reconnect, like the watch set. */
  followLesson(msg: LessonClientMessage): void {
    this.followed = msg;
    this.sendLesson();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
  }

  private connect(status: LinkStatus): void {
    if (this.disposed) return;
    this.handlers.status(status);
    const ws = new WebSocket(wsUrl('/ws/events'), wsProtocols());
    this.ws = ws;
    ws.onopen = () => {
      this.backoff.reset();
      this.handlers.status('connected');
      this.sendWatch();
      if (this.followed?.id) this.sendLesson();
      this.handlers.connected();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return; // the event stream is JSON text only
      const msg = parseEventsMessage(ev.data);
      if (msg?.type === 'lesson') this.handlers.lesson?.(msg);
      else if (msg) this.handlers.message(msg);
      else console.warn('nsconsole: ignored an event the client does not understand', ev.data.slice(0, 200));
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.disposed) return;
      this.ws = null;
      this.handlers.status('reconnecting');
      this.retryTimer = setTimeout(() => this.connect('reconnecting'), this.backoff.next());
    };
    // onerror is always followed by onclose, which schedules the retry.
  }

  private sendLesson(): void {
    if (this.ws?.readyState !== WebSocket.OPEN || !this.followed) return;
    this.ws.send(JSON.stringify(this.followed));
  }

  private sendWatch(): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    const msg: EventsClientMessage = { type: 'watch', ids: this.watchIds };
    this.ws.send(JSON.stringify(msg));
  }
}
