// The lesson panel's state: the lesson list, the open lesson (also in the address as `?lesson=ID`, so a reload
// or a shared link opens it), its live step states from the server, the hints shown, and the actions: type a
// command into a pane, reset. Step states come only from the server, which checks them against the kernel;
// the browser tells it which shell session is Outside and which is Inside, and again whenever one changes.
import { ApiError } from '../lib/api.js';
import type { PaneName } from '../lib/hook.js';
import {
  getLesson,
  lessonParam,
  listLessons,
  resetLesson,
  resetLines,
  setLessonParam,
  type LessonInfo,
  type LessonStep,
  type StepProgress,
} from '../lib/lessons-api.js';
import type { NamespacesState } from './namespaces.svelte.js';
import type { PaneState } from './pane.svelte.js';

/** Typing speed of "Run in …": fast enough not to hold a learner up, slow enough to be seen as typing. */
const TYPE_CHAR_MS = 8;
/** …but a long command never takes longer than this to appear (it is then typed in bigger chunks). */
const TYPE_MAX_MS = 400;

export interface LessonStepView extends LessonStep {
  state: 'pending' | 'passed';
  /** what the kernel shows instead, for the current step */
  reason: string | null;
  /** the first step not passed: the one the learner is on */
  current: boolean;
  hintsShown: number;
}

export class LessonState {
  lessons = $state.raw<LessonInfo[]>([]);
  listError = $state<string | null>(null);
  /** the open lesson's id (also `?lesson=` in the address); null = no panel */
  openId = $state<string | null>(null);
  /** step states from the server, in step order */
  statuses = $state.raw<StepProgress[]>([]);
  error = $state<string | null>(null);
  resetting = $state(false);
  /** what the last reset removed, in words; null = no reset since the lesson was opened */
  resetReport = $state.raw<string[] | null>(null);
  /** the open lesson as the server last described it (variables filled in) */
  private detail = $state.raw<LessonInfo | null>(null);
  /** hints revealed per step index */
  private hintCounts = $state<Record<number, number>>({});
  /** per pane: the typing in progress, so two Run clicks never interleave their characters */
  private typing: Record<PaneName, Promise<void>> = { outside: Promise.resolve(), inside: Promise.resolve() };

  readonly lesson = $derived(
    this.detail?.id === this.openId && this.openId !== null
      ? this.detail
      : (this.lessons.find((l) => l.id === this.openId && !l.error) ?? null),
  );
  readonly steps = $derived.by((): LessonStepView[] => {
    const info = this.lesson;
    if (!info) return [];
    const firstPending = info.steps.findIndex((_, i) => this.statuses[i]?.state !== 'passed');
    return info.steps.map((s, i) => ({
      ...s,
      state: this.statuses[i]?.state ?? 'pending',
      reason: this.statuses[i]?.reason ?? null,
      current: i === firstPending,
      hintsShown: this.hintCounts[i] ?? 0,
    }));
  });
  readonly done = $derived(this.steps.length > 0 && this.steps.every((s) => s.state === 'passed'));

  /** bumped by each open/close, so a late answer for another lesson is dropped */
  private openToken = 0;

  constructor(
    private readonly panes: Record<PaneName, PaneState>,
    private readonly stream: NamespacesState,
  ) {
    this.openId = lessonParam();
  }

  /**
   * Load the lesson list and the open lesson, and keep the server told which sessions are the lesson's panes
   * (again whenever one changes, e.g. the Inside pane gets a new shell). Returns the teardown.
   */
  attach(): () => void {
    this.stream.onLesson = (msg) => {
      if (msg.id === this.openId) this.statuses = msg.steps;
    };
    void this.loadList();
    if (this.openId) void this.loadDetail(this.openId);
    const stop = $effect.root(() => {
      $effect(() => {
        const outside = this.panes.outside.session?.id;
        const inside = this.panes.inside.session?.id;
        this.stream.followLesson({
          type: 'lesson',
          id: this.openId,
          panes: { ...(outside ? { outside } : {}), ...(inside ? { inside } : {}) },
        });
      });
    });
    return () => {
      stop();
      this.stream.onLesson = null;
    };
  }

  async loadList(): Promise<void> {
    try {
      this.lessons = await listLessons();
      this.listError = null;
    } catch (e) {
      this.listError = e instanceof Error ? e.message : String(e);
    }
  }

  open(id: string): void {
    if (this.openId !== id) {
      this.statuses = [];
      this.detail = null;
      this.hintCounts = {};
      this.resetReport = null;
    }
    this.openId = id;
    this.error = null;
    setLessonParam(id);
    void this.loadDetail(id);
  }

  close(): void {
    this.openToken++;
    this.openId = null;
    this.statuses = [];
    this.error = null;
    setLessonParam(null);
  }

  canRun(pane: PaneName): boolean {
    return this.panes[pane].status === 'connected';
  }

  /** Type `command` into a pane's terminal as if typed (it goes through the terminal, so the shell echoes it), then Enter. */
  run(pane: PaneName, command: string): void {
    const target = this.panes[pane];
    target.focus();
    const text = command.replace(/\r?\n/g, '\r') + '\r';
    const chunk = Math.max(1, Math.ceil(text.length / (TYPE_MAX_MS / TYPE_CHAR_MS)));
    this.typing[pane] = this.typing[pane].then(async () => {
      for (let i = 0; i < text.length; i += chunk) {
        if (!target.input(text.slice(i, i + chunk))) return; // the pane lost its terminal: stop typing
        await new Promise((r) => setTimeout(r, TYPE_CHAR_MS));
      }
    });
  }

  showHint(step: number): void {
    const total = this.lesson?.steps[step]?.hints.length ?? 0;
    this.hintCounts[step] = Math.min(total, (this.hintCounts[step] ?? 0) + 1);
  }

  /** Undo what the lesson made (server side); shows what was removed; every step is pending again. */
  async reset(): Promise<void> {
    const id = this.openId;
    if (!id) return;
    this.resetting = true;
    this.error = null;
    try {
      const result = await resetLesson(id);
      if (id !== this.openId) return;
      this.statuses = result.progress;
      this.hintCounts = {};
      this.resetReport = resetLines(result);
      if (result.problems.length) this.error = `Reset could not undo everything: ${result.problems.join('; ')}`;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      this.resetting = false;
    }
  }

  private async loadDetail(id: string): Promise<void> {
    const token = ++this.openToken;
    try {
      const detail = await getLesson(id);
      if (token !== this.openToken) return;
      this.detail = detail;
      // The event stream may already have sent newer progress; the first one wins only while none came.
      if (!this.statuses.length) this.statuses = detail.progress;
      this.error = detail.error ? `This lesson cannot be used: ${detail.error}` : null;
    } catch (e) {
      if (token !== this.openToken) return;
      this.error =
        e instanceof ApiError && e.status === 404
          ? `There is no lesson "${id}".`
          : `Could not load the lesson: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
}
