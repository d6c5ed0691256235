// Live namespace list and the watched mount tables, fed by the event stream (`/ws/events`), with one REST
// fetch as a fallback at start, after every reconnect and when a table is first watched. No polling.
import { SvelteSet } from 'svelte/reactivity';
import type { ContainerRef, Mount, Namespace, NsType, ScanProblem, TableTruncation } from '../../../shared/api.js';
import type { EventsServerMessage } from '../../../shared/events.js';
import { getMounts, listNamespaces, ApiError } from '../lib/api.js';
import { EventsSocket, type LinkStatus } from '../lib/eventsSocket.js';
import type { LessonClientMessage, LessonServerMessage } from '../lib/lessons-api.js';

export type TypeFilter = NsType | 'all';

export class NamespacesState {
  list = $state.raw<Namespace[]>([]);
  problems = $state.raw<ScanProblem[]>([]);
  /** a list has arrived at least once (so absence from it means something) */
  loaded = $state(false);
  loadError = $state<string | null>(null);
  link = $state<LinkStatus>('connecting');
  streamError = $state<string | null>(null);
  /** mount tables of the watched namespaces, by namespace id */
  tables = $state.raw<Record<string, Mount[]>>({});
  /** watched tables that are not whole (too big or too slow to read, or more rows than a message carries) */
  truncations = $state.raw<Record<string, TableTruncation>>({});
  /** watched namespaces reported gone (cleared if one shows up again) */
  readonly gone = new SvelteSet<string>();
  typeFilter = $state<TypeFilter>('mnt');

  /** a container's id: only its namespaces are shown; 'all': every namespace */
  containerFilter = $state<string>('all');

  readonly visible = $derived(
    this.list.filter(
      (n) =>
        (this.typeFilter === 'all' || n.type === this.typeFilter) &&
        (this.containerFilter === 'all' || n.containers?.some((c) => c.id === this.containerFilter)),
    ),
  );
  /** every container that uses a listed namespace, by name */
  readonly containers = $derived.by((): ContainerRef[] => {
    const byId: Record<string, ContainerRef> = {};
    for (const n of this.list) for (const c of n.containers ?? []) byId[c.id] = c;
    return Object.values(byId).sort((a, b) => a.name.localeCompare(b.name));
  });
  /** the server's own mount namespace: the "outside" baseline */
  readonly selfMnt = $derived(this.list.find((n) => n.self && n.type === 'mnt') ?? null);

  /** receives the followed lesson's progress (lesson.svelte.ts); the stream is shared, one socket per tab */
  onLesson: ((msg: LessonServerMessage) => void) | null = null;
  private socket: EventsSocket | null = null;
  private followed: LessonClientMessage | null = null;
  private watched: string[] = [];
  /** bumped by each event-stream table for an id, so an older REST answer never overwrites it */
  private tableVersion: Record<string, number> = {};

  /** Open the event stream and load the list; returns the teardown. */
  attach(): () => void {
    const socket = new EventsSocket({
      message: (msg) => this.onEvent(msg),
      status: (s) => (this.link = s),
      connected: () => void this.refresh(),
      lesson: (msg) => this.onLesson?.(msg),
    });
    this.socket = socket;
    socket.start();
    socket.watch(this.watched);
    if (this.followed) socket.followLesson(this.followed);
    void this.refresh();
    return () => {
      socket.dispose();
      if (this.socket === socket) this.socket = null;
    };
  }

  byId(id: string | null): Namespace | null {
    return id ? (this.list.find((n) => n.id === id) ?? null) : null;
  }

  /** Whether `id` is known to be gone: reported gone, or missing from a loaded list. */
  isGone(id: string): boolean {
    return this.gone.has(id) || (this.loaded && !this.list.some((n) => n.id === id));
  }

  /** Replace the set of namespaces whose mount tables are kept live. */
  watch(ids: string[]): void {
    const unique = ids.filter((id, i) => ids.indexOf(id) === i);
    if (unique.length === this.watched.length && unique.every((id, i) => id === this.watched[i])) return;
    this.watched = unique;
    this.socket?.watch(unique);
    const kept: Record<string, Mount[]> = {};
    for (const id of unique) {
      const t = this.tables[id];
      if (t) kept[id] = t;
      else void this.fetchTable(id);
    }
    this.tables = kept;
  }

  /** Follow a lesson on the event stream (see LessonClientMessage); kept across reconnects. */
  followLesson(msg: LessonClientMessage): void {
    this.followed = msg;
    this.socket?.followLesson(msg);
  }

  /** Add or update one namespace now (e.g. the one just created), before the stream reports it. */
  upsert(ns: Namespace): void {
    this.list = [...this.list.filter((n) => n.id !== ns.id), ns];
    this.forget(ns.id, false);
  }

  async refresh(): Promise<void> {
    try {
      const { namespaces, problems } = await listNamespaces();
      this.setList(namespaces, problems ?? []);
      this.loadError = null;
    } catch (e) {
      this.loadError = e instanceof Error ? e.message : String(e);
    }
    for (const id of this.watched) void this.fetchTable(id);
  }

  private async fetchTable(id: string): Promise<void> {
    const version = this.tableVersion[id] ?? 0;
    try {
      const mounts = await getMounts(id);
      if ((this.tableVersion[id] ?? 0) !== version || !this.watched.includes(id)) return; // stream was newer
      this.tables = { ...this.tables, [id]: mounts };
    } catch (e) {
      if (e instanceof ApiError && e.code === 'NS_NOT_FOUND') this.forget(id, true);
      // Otherwise swallow: the event stream delivers the table once it can; the UI shows it as loading.
    }
  }

  private onEvent(msg: EventsServerMessage): void {
    switch (msg.type) {
      case 'namespaces':
        this.setList(msg.namespaces, msg.problems ?? []);
        this.streamError = null;
        break;
      case 'mounts':
        if (!this.watched.includes(msg.id)) return;
        this.tableVersion[msg.id] = (this.tableVersion[msg.id] ?? 0) + 1;
        this.tables = { ...this.tables, [msg.id]: msg.mounts };
        if (msg.truncated || this.truncations[msg.id]) {
          const { [msg.id]: _old, ...others } = this.truncations;
          this.truncations = msg.truncated ? { ...others, [msg.id]: msg.truncated } : others;
        }
        this.forget(msg.id, false);
        break;
      case 'gone':
        this.forget(msg.id, true);
        break;
      case 'error':
        this.streamError = msg.message;
        break;
    }
  }

  private setList(namespaces: Namespace[], problems: ScanProblem[]): void {
    this.list = namespaces;
    this.problems = problems;
    this.loaded = true;
    for (const n of namespaces) if (this.gone.has(n.id)) this.gone.delete(n.id);
  }

  /** Mark `id` gone (dropping its table), or clear a gone mark. */
  private forget(id: string, gone: boolean): void {
    if (gone === this.gone.has(id)) return;
    if (gone) {
      this.gone.add(id);
      const { [id]: _dropped, ...rest } = this.tables;
      this.tables = rest;
    } else this.gone.delete(id);
  }
}
