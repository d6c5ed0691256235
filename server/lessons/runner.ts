// One lesson run per lesson and server: which steps have passed, and the live evaluation while anyone follows it.
//
// Evaluation is driven by events, never by a timer: the engine's pushes (namespace list — it follows process
// starts and exits — and the mount tables of the namespaces the checks may ask about), and output from either
// pane's terminal (a command finished: `touch` creates a file without any namespace or mount event). Steps pass in
// order and stay passed until reset().
import type { NsType } from '../../shared/api.js';
import type { LessonPane, LessonServerMessage, StepProgress } from '../../shared/lessons.js';
import type { Logger } from '../log.js';
import type { EngineEvent, NamespaceEngine } from '../namespaces/engine.js';
import { evaluateStep, type CheckContext } from './checks.js';
import { LiveFacts, type PaneSessions } from './facts.js';
import type { Lesson } from './loader.js';

/**
 * Pane output comes in bursts (a `cat` of a big file is thousands of chunks): after one evaluation, the next one
 * for output waits at least this long. Kernel events are not delayed.
 */
export const ACTIVITY_EVAL_GAP_MS = 40;

export interface RunDeps {
  engine: NamespaceEngine;
  sessions: PaneSessions & { onActivity(sessionId: string, fn: () => void): (() => void) | null };
  log: Logger;
}

export type Viewer = (msg: LessonServerMessage) => void;

export class LessonRun {
  private passed: boolean[];
  private progress: StepProgress[];
  private readonly viewers = new Map<Viewer, Partial<Record<LessonPane, string>>>();
  private readonly facts: LiveFacts;
  private watch: { setIds(ids: string[]): void; dispose(): void } | null = null;
  private watchedIds = '';
  private unhooks: (() => void)[] = [];
  private hookedPanes = '';
  private scheduled = false;
  private activityTimer: NodeJS.Timeout | null = null;
  private lastEvalAt = 0;
  /** evaluations done (for the bench and tests) */
  evaluations = 0;

  constructor(
    readonly lesson: Lesson,
    private readonly deps: RunDeps,
  ) {
    this.passed = lesson.steps.map(() => false);
    this.progress = lesson.steps.map(() => ({ state: 'pending' }));
    const self = (type: NsType) => {
      try {
        return deps.engine.selfId(type);
      } catch {
        return null; // Swallow: the kernel lacks this namespace type; checks on it say so.
      }
    };
    this.facts = new LiveFacts(deps.sessions, self);
  }

  get work(): string {
    return this.lesson.variables.WORK as string;
  }

  steps(): StepProgress[] {
    return this.progress.map((p) => ({ ...p }));
  }

  /** The panes' current sessions (the latest viewer's say). */
  panes(): Partial<Record<LessonPane, string>> {
    return { ...this.facts.panes };
  }

  /** Follow this run: `viewer` gets the progress now and on every change, until the returned function is called. */
  follow(viewer: Viewer, panes: Partial<Record<LessonPane, string>>): () => void {
    this.viewers.set(viewer, panes);
    this.setPanes(panes);
    this.watch ??= this.deps.engine.watch((e) => this.onEngineEvent(e), []);
    this.evaluate();
    viewer({ type: 'lesson', id: this.lesson.id, steps: this.steps() });
    return () => {
      this.viewers.delete(viewer);
      if (this.viewers.size === 0) this.stop();
    };
  }

  /** All steps pending again (the caller has undone what the lesson made). */
  resetProgress(): void {
    this.passed = this.lesson.steps.map(() => false);
    this.progress = this.lesson.steps.map(() => ({ state: 'pending' }));
    if (this.viewers.size > 0) this.evaluate(true);
  }

  dispose(): void {
    this.viewers.clear();
    this.stop();
  }

  private stop(): void {
    this.watch?.dispose();
    this.watch = null;
    this.watchedIds = '';
    for (const u of this.unhooks) u();
    this.unhooks = [];
    this.hookedPanes = '';
    if (this.activityTimer) clearTimeout(this.activityTimer);
    this.activityTimer = null;
  }

  private setPanes(panes: Partial<Record<LessonPane, string>>): void {
    this.facts.panes = { ...panes };
    const key = `${panes.outside ?? ''}/${panes.inside ?? ''}`;
    if (key === this.hookedPanes) return;
    for (const u of this.unhooks) u();
    this.unhooks = [];
    this.hookedPanes = key;
    for (const id of new Set([panes.outside, panes.inside])) {
      if (id === undefined) continue;
      const unhook = this.deps.sessions.onActivity(id, () => this.onActivity());
      if (unhook) this.unhooks.push(unhook);
    }
  }

  private onEngineEvent(e: EngineEvent): void {
    if (e.type === 'namespaces') this.facts.namespaces = e.namespaces;
    else if (e.type === 'mounts') this.facts.tables.set(e.id, e.mounts);
    else this.facts.tables.delete(e.id);
    this.schedule();
  }

  private onActivity(): void {
    if (this.activityTimer) return;
    const wait = this.lastEvalAt + ACTIVITY_EVAL_GAP_MS - Date.now();
    if (wait <= 0) return this.schedule();
    this.activityTimer = setTimeout(() => {
      this.activityTimer = null;
      this.schedule();
    }, wait);
  }

  private schedule(): void {
    if (this.scheduled || this.viewers.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.viewers.size > 0) this.evaluate();
    });
  }

  private evaluate(forcePush = false): void {
    this.lastEvalAt = Date.now();
    this.evaluations++;
    this.facts.beginEvaluation();
    const short = (p: string) => (p === this.work ? '${WORK}' : p.startsWith(this.work + '/') ? '…/' + p.slice(this.work.length + 1) : p);
    const ctx: CheckContext = { facts: this.facts, short };
    const before = JSON.stringify(this.progress);
    let blocked = false;
    this.lesson.steps.forEach((step, i) => {
      if (this.passed[i]) return;
      if (blocked) {
        this.progress[i] = { state: 'pending' };
        return;
      }
      let r;
      try {
        r = evaluateStep(ctx, step.checks);
      } catch (err) {
        this.deps.log.error({ err, lesson: this.lesson.id, step: i }, 'lesson check failed');
        r = { ok: false as const, reason: 'the check could not be evaluated (see the server log)' };
      }
      if (r.ok) {
        this.passed[i] = true;
        this.progress[i] = { state: 'passed' };
      } else {
        blocked = true;
        this.progress[i] = { state: 'pending', reason: r.reason };
      }
    });
    this.updateWatch();
    if (!forcePush && JSON.stringify(this.progress) === before) return;
    const msg: LessonServerMessage = { type: 'lesson', id: this.lesson.id, steps: this.steps() };
    for (const v of this.viewers.keys()) v(msg);
  }

  private updateWatch(): void {
    if (!this.watch) return;
    const ids = this.facts.wantedTables(this.work);
    const key = ids.join(',');
    if (key === this.watchedIds) return;
    this.watchedIds = key;
    this.watch.setIds(ids);
  }
}
