// The console as a whole: the two panes, the namespace picked as the inside target, and the namespace actions.
// Which mount namespaces are compared follows from that: outside = the server's own (`self`) mnt namespace;
// inside = the selected mnt namespace, else wherever the inside shell's foreground process is now.
import type { ContainerRef, Mount } from '../../../shared/api.js';
import { ApiError, createNamespace, deleteNamespace } from '../lib/api.js';
import { diffRows as mountDiffRows, sameRows, type DiffRow } from '../../../shared/mount-diff.js';
import { linkIndex, type LinkIndex } from '../../../shared/propagation-links.js';
import { NamespacesState } from './namespaces.svelte.js';
import { PaneState } from './pane.svelte.js';

/** After its shell is closed, a namespace may take a moment to lose its last process: retry NS_BUSY this long. */
const DELETE_BUSY_RETRY_MS = 200;
const DELETE_BUSY_ATTEMPTS = 15;

export class ConsoleState {
  readonly namespaces = new NamespacesState();
  readonly outside = new PaneState('outside', 'Outside terminal');
  readonly inside = new PaneState('inside', 'Inside terminal');
  /** the namespace picked as the inside target; null = the inside pane is a host shell */
  selectedId = $state<string | null>(null);
  /** an action (create/delete) is running */
  busy = $state(false);
  actionError = $state<string | null>(null);
  diffOnly = $state(false);

  readonly selected = $derived(this.namespaces.byId(this.selectedId));
  readonly selectedGone = $derived(this.selectedId !== null && this.namespaces.isGone(this.selectedId));
  readonly outsideMnt = $derived(this.namespaces.selfMnt?.id ?? null);
  readonly insideMnt = $derived.by((): string | null => {
    if (this.selectedId?.startsWith('mnt:')) return this.selectedId;
    return this.inside.where?.mnt ?? this.outsideMnt;
  });
  /** the compared inside namespace no longer exists (e.g. the picked one was deleted) */
  readonly insideGone = $derived(this.insideMnt !== null && this.namespaces.isGone(this.insideMnt));
  readonly insideMounts = $derived<Mount[] | null>(
    this.insideMnt ? (this.namespaces.tables[this.insideMnt] ?? null) : null,
  );
  readonly outsideMounts = $derived<Mount[] | null>(
    this.outsideMnt ? (this.namespaces.tables[this.outsideMnt] ?? null) : null,
  );
  readonly sameNamespace = $derived(this.insideMnt !== null && this.insideMnt === this.outsideMnt);
  readonly diffRows = $derived.by((): DiffRow[] | null => {
    if (this.sameNamespace) return this.insideMounts ? sameRows(this.insideMounts) : null;
    if (!this.insideMounts || !this.outsideMounts) return null;
    return mountDiffRows(this.insideMounts, this.outsideMounts);
  });
  /** peer groups and master relations across both tables (or within the one, when they are the same) */
  readonly propagationLinks = $derived.by((): LinkIndex | null => {
    if (!this.insideMounts) return null;
    if (this.sameNamespace) return linkIndex(this.insideMounts, null);
    return this.outsideMounts ? linkIndex(this.insideMounts, this.outsideMounts) : null;
  });
  readonly shownRows = $derived(
    this.diffOnly ? (this.diffRows?.filter((r) => r.kind !== 'same') ?? null) : this.diffRows,
  );

  constructor() {
    // After a reload the inside pane comes back on the namespace it was on (its shell too, if it still runs).
    const target = this.inside.target;
    if (target.kind === 'namespace') this.selectedId = target.id;
  }

  /** Start the live feeds; keeps the watched mount tables in step with inside/outside. Returns the teardown. */
  attach(): () => void {
    const detach = this.namespaces.attach();
    const stopWatching = $effect.root(() => {
      $effect(() => {
        const ids = [this.insideMnt, this.outsideMnt].filter((id): id is string => id !== null);
        this.namespaces.watch(ids);
      });
    });
    return () => {
      stopWatching();
      detach();
    };
  }

  /** Make `id` the inside target: the Inside terminal opens a new shell in it. */
  select(id: string): void {
    if (
      id === this.selectedId &&
      this.inside.target.kind === 'namespace' &&
      this.inside.status !== 'exited' &&
      this.inside.status !== 'error'
    )
      return;
    this.selectedId = id;
    this.actionError = null;
    void this.inside.retarget({ kind: 'namespace', id });
  }

  /**
   * Make a container the inside target: a shell in all of its namespaces (its own shell), or with `tools:
   * "host"` the host's shell and tools in its namespaces with its files under HOST_TOOLS_ROOT. Its mount
   * namespace is selected, so the mount panel compares the container's mounts with the host's.
   */
  enterContainer(container: ContainerRef, tools?: 'host'): void {
    const mnt = this.namespaces.list.find((n) => n.type === 'mnt' && n.containers?.some((c) => c.id === container.id));
    this.selectedId = mnt?.id ?? null;
    this.actionError = null;
    void this.inside.retarget(
      tools ? { kind: 'container', id: container.id, tools } : { kind: 'container', id: container.id },
    );
  }

  /** Back to a host shell in the Inside pane. */
  backToHost(): void {
    this.selectedId = null;
    void this.inside.retarget({ kind: 'host' });
  }

  /** Create a persisted mnt namespace and select it; returns an error in plain words, or null. */
  async create(name: string): Promise<string | null> {
    this.busy = true;
    try {
      const ns = await createNamespace(name);
      this.namespaces.upsert(ns);
      this.select(ns.id);
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    } finally {
      this.busy = false;
    }
  }

  /** Close the inside shell if it is in the selected namespace, then delete that namespace. */
  async deleteSelected(): Promise<void> {
    const id = this.selectedId;
    if (!id) return;
    this.busy = true;
    this.actionError = null;
    try {
      this.selectedId = null;
      await this.inside.retarget({ kind: 'host' });
      for (let attempt = 1; ; attempt++) {
        try {
          await deleteNamespace(id);
          break;
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 'NS_BUSY' && attempt < DELETE_BUSY_ATTEMPTS)) throw e;
          await new Promise((r) => setTimeout(r, DELETE_BUSY_RETRY_MS));
        }
      }
      void this.namespaces.refresh();
    } catch (e) {
      this.actionError = e instanceof Error ? e.message : String(e);
    } finally {
      this.busy = false;
    }
  }
}
