// The lessons of this server: loaded once at start from lessons/, each with its own workspace directory (a fresh
// temporary directory per server, so two servers or two lessons never collide, and nothing goes under /root) and
// its run (progress). Used by the REST routes and the /ws/events lesson messages.
import { mkdirSync, mkdtempSync, realpathSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NS_TYPES } from '../../shared/api.js';
import type { LessonDetail, LessonInfo, LessonPane, LessonResetResult } from '../../shared/lessons.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NamespaceEngine } from '../namespaces/engine.js';
import type { TerminalRegistry } from '../terminals/registry.js';
import { readWhere } from '../terminals/where.js';
import { describeCheck, shortener } from './describe.js';
import { loadLessons, type Lesson, type LoadedLesson } from './loader.js';
import { resetWorkspace } from './reset.js';
import { LessonRun, type Viewer } from './runner.js';

/** Workspace paths are typed into shells by the lessons' commands: only characters no shell treats specially. */
const SHELL_SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export interface LessonServiceOptions {
  dir: string;
  engine: NamespaceEngine;
  registry: Pick<TerminalRegistry, 'get' | 'list'>;
  log: Logger;
}

/** The folder the workspaces go in: os.tmpdir() when it is plain and not under /root, else /tmp. */
function workspaceParent(): string {
  const tmp = os.tmpdir();
  let real = tmp;
  try {
    real = realpathSync(tmp);
  } catch {
    // Swallow: an unusable TMPDIR falls back to /tmp below.
  }
  return SHELL_SAFE_PATH.test(real) && real !== '/root' && !real.startsWith('/root/') ? real : '/tmp';
}

/** lessons/ at the package root, from server/lessons (tests) and dist/server/lessons alike. */
export function defaultLessonsDir(): string {
  const here = import.meta.dirname;
  const up = here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..';
  return path.resolve(here, up, 'lessons');
}

export class LessonService {
  readonly root: string;
  private readonly loaded: LoadedLesson[];
  private readonly runs = new Map<string, LessonRun>();
  private resets = new Map<string, Promise<LessonResetResult>>();

  constructor(private readonly opts: LessonServiceOptions) {
    this.root = mkdtempSync(path.join(workspaceParent(), 'nsconsole-lessons-'));
    this.loaded = loadLessons(opts.dir, this.root);
    for (const l of this.loaded) {
      if (!l.lesson) opts.log.warn({ file: l.file }, `lesson not loaded: ${l.error}`);
      else mkdirSync(l.lesson.variables.WORK as string, { recursive: true, mode: 0o700 });
    }
  }

  list(): LessonInfo[] {
    return this.loaded.map((l) => (l.lesson ? info(l.lesson) : { id: l.id, title: l.id, summary: '', steps: [], error: l.error }));
  }

  detail(id: string): LessonDetail {
    const l = this.find(id);
    if (!l.lesson) return { id: l.id, title: l.id, summary: '', steps: [], error: l.error, variables: {}, progress: [] };
    return { ...info(l.lesson), variables: { ...l.lesson.variables }, progress: this.run(id).steps() };
  }

  /** Follow a lesson's progress (see LessonRun.follow). */
  follow(id: string, panes: Partial<Record<LessonPane, string>>, viewer: Viewer): () => void {
    return this.run(id).follow(viewer, panes);
  }

  reset(id: string): Promise<LessonResetResult> {
    const r = this.run(id);
    // Two resets at once would race each other's umounts: the second waits for the first.
    const prev = this.resets.get(id) ?? Promise.resolve(null);
    const next = prev.then(async () => {
      const panes = r.panes();
      const leaders = (['outside', 'inside'] as const).map((p) => this.leaderPid(panes[p])).filter((p): p is number => p !== null);
      const result = await resetWorkspace({
        work: r.work,
        namespaces: (await this.opts.engine.list()).namespaces,
        paneLeaders: leaders,
        shells: this.opts.registry.list().filter((s) => !s.exited).map((s) => s.pid),
        paneForeground: leaders.map((pid) => foregroundOf(pid)).filter((p): p is number => p !== null),
        selfIds: new Set(NS_TYPES.map((t) => safeSelf(this.opts.engine, t))),
      });
      mkdirSync(r.work, { recursive: true, mode: 0o700 });
      r.resetProgress();
      return { ...result, progress: r.steps() };
    });
    this.resets.set(id, next);
    return next;
  }

  /** Undo every lesson (as reset does) and remove the workspaces: at server shutdown. */
  async dispose(): Promise<void> {
    for (const l of this.loaded) {
      if (!l.lesson) continue;
      try {
        const { problems } = await this.reset(l.id);
        if (problems.length > 0) this.opts.log.warn({ lesson: l.id, problems }, 'lesson reset at shutdown left something');
        rmdirSync(l.lesson.variables.WORK as string);
      } catch (err) {
        this.opts.log.error({ err, lesson: l.id }, 'could not clean up a lesson workspace');
      }
    }
    for (const r of this.runs.values()) r.dispose();
    try {
      rmdirSync(this.root);
    } catch (err) {
      // Swallow into the log: a workspace left behind is untidy, not harmful (it is in the temporary directory).
      this.opts.log.error({ err, root: this.root }, 'could not remove the lessons workspace');
    }
  }

  private leaderPid(sessionId: string | undefined): number | null {
    const s = sessionId === undefined ? undefined : this.opts.registry.get(sessionId);
    return s && !s.info().exited ? s.pid : null;
  }

  private find(id: string): LoadedLesson {
    const l = this.loaded.find((x) => x.id === id);
    if (!l) throw new AppError('LESSON_NOT_FOUND', `no lesson ${JSON.stringify(id)}; GET /api/lessons lists them`);
    return l;
  }

  private run(id: string): LessonRun {
    const l = this.find(id);
    if (!l.lesson) throw new AppError('LESSON_INVALID', `lesson ${id} could not be loaded: ${l.error}`);
    let r = this.runs.get(id);
    if (!r) {
      r = new LessonRun(l.lesson, {
        engine: this.opts.engine,
        log: this.opts.log,
        sessions: {
          leaderPid: (sid) => this.leaderPid(sid),
          onActivity: (sid, fn) => this.opts.registry.get(sid)?.onActivity(fn) ?? null,
        },
      });
      this.runs.set(id, r);
    }
    return r;
  }
}

function safeSelf(engine: NamespaceEngine, type: (typeof NS_TYPES)[number]): string {
  try {
    return engine.selfId(type);
  } catch {
    return ''; // Swallow: no such namespace type on this kernel, so there is nothing of it to protect.
  }
}

/** The same lookup as the pane header's (terminals/where.ts), so "the pane's process" means one thing. */
function foregroundOf(leader: number): number | null {
  return readWhere(leader)?.pid ?? null;
}

function info(lesson: Lesson): LessonInfo {
  const short = shortener(lesson.variables.WORK as string);
  return {
    id: lesson.id,
    title: lesson.title,
    summary: lesson.summary,
    steps: lesson.steps.map((s) => ({ title: s.title, text: s.text, commands: s.commands, hints: s.hints, checks: s.checks.map((c) => describeCheck(c, short)) })),
  };
}
