// One lesson run per lesson and place (the server's host, or with --sandbox one user's sandbox): which steps have
// passed, and the live evaluation while anyone follows it.
//
// Evaluation is driven by events, never by a timer: the engine's pushes (namespace list — it follows process
// starts and exits — and the mount tables of the namespaces the checks may ask about), and output from either
// pane's terminal (a command finished: `touch` creates a file without any namespace or mount event). Steps pass in
// order and stay passed until reset().
import type { LessonPane, LessonServerMessage, StepProgress } from '../../shared/lessons.js';
import type { Logger } from '../log.js';
import type { EngineEvent, NamespaceEngine } from '../namespaces/engine.js';
import { evaluateStep, type CheckContext, type CheckResult } from './checks.js';
import { shortener } from './describe.js';
import { LiveFacts, type OutsideView, type PaneSessions } from './facts.js';
import type { Lesson } from './loader.js';

/**
 * Pane output comes in bursts (a `cat` of a big file is thousands of chunks): after one evaluation, the next one
 * for output waits at least this long. Kernel events are not delayed.
 */
export const ACTIVITY_EVAL_GAP_MS = 40;

export interface RunDeps {
  /** the namespace view the checks see: the host's, or the user's sandbox's (scoped) */
  engine: NamespaceEngine;
  outside: OutsideView;
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

  constructor(
    readonly lesson: Lesson,
    private readonly deps: RunDeps,
  ) {
    this.passed = lesson.steps.map(() => false);
    this.progress = lesson.steps.map(() => ({ state: 'pending' }));
    this.facts = new LiveFacts(deps.sessions, deps.outside);
  }

  get work(): string {
    return this.lesson.variables.WORK as string;
  }

  /** someone follows it now (an event stream) */
  get following(): boolean {
    return this.viewers.size > 0;
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
      const last = [...this.viewers.values()].at(-1);
      if (last) this.setPanes(last);
      else this.stop();
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
    this.facts.beginEvaluation();
    const ctx: CheckContext = { facts: this.facts, short: shortener(this.work) };
    const before = JSON.stringify(this.progress);
    this.progress = advance(this.passed, (i) => {
      try {
        return evaluateStep(ctx, this.lesson.steps[i]?.checks ?? []);
      } catch (err) {
        this.deps.log.error({ err, lesson: this.lesson.id, step: i }, 'lesson check failed');
        return { ok: false, reason: 'the check could not be evaluated (see the server log)' };
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

/**
 * Steps pass in order: the first step not yet passed is evaluated; if it passes, the next one is, and so on. A
 * passed step stays passed (`passed` is updated in place); the first pending one carries its reason.
 */
export function advance(passed: boolean[], evaluate: (step: number) => CheckResult): StepProgress[] {
  let blocked = false;
  return passed.map((done, i): StepProgress => {
    if (done) return { state: 'passed' };
    if (blocked) return { state: 'pending' };
    const r = evaluate(i);
    if (r.ok) {
      passed[i] = true;
      return { state: 'passed' };
    }
    blocked = true;
    return { state: 'pending', reason: r.reason };
  });
}
