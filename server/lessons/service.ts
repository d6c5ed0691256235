// The lessons of this server: loaded once at start from lessons/, each with its own workspace directory (a fresh
// temporary directory per server, so two servers or two lessons never collide, and nothing goes under /root) and
// its run (progress). Used by the REST routes and the /ws/events lesson messages.
// The workspace directory is named at start (the lessons' variables hold its path) but made only when a lesson is
// first opened, and removed at dispose: a server that never opened one, or was killed, leaves no empty directory.
// With --sandbox the lessons run in the token holder's sandbox: the workspace is made there by the lesson's own
// commands (its /tmp is the sandbox's), never on the host, and Reset acts inside the sandbox (sandbox-reset.ts).
import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, rmdirSync } from 'node:fs';
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
import type { Sandbox } from '../sandbox/sandbox.js';
import { resetWorkspace } from './reset.js';
import { sandboxResetPlace } from './sandbox-reset.js';
import { LessonRun, type Viewer } from './runner.js';

/** Workspace paths are typed into shells by the lessons' commands: only characters no shell treats specially. */
const SHELL_SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export interface LessonServiceOptions {
  dir: string;
  engine: NamespaceEngine;
  registry: Pick<TerminalRegistry, 'get' | 'list'>;
  log: Logger;
  /** --sandbox: the sandbox the lessons run in (the token holder's); absent: they run on the host */
  sandbox?: () => Promise<Sandbox>;
}

/** Random bytes in a workspace's name: it is made only later (lazily), so nobody may guess it meanwhile. */
const WORKSPACE_NAME_BYTES = 8;
/** A sandbox's /tmp is its own tmpfs, whatever the server's TMPDIR is. */
const SANDBOX_WORKSPACE_PARENT = '/tmp';

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
  /** the workspace directory exists on the host (made by this server, on a lesson's first open) */
  private rootMade = false;

  constructor(private readonly opts: LessonServiceOptions) {
    const parent = opts.sandbox ? SANDBOX_WORKSPACE_PARENT : workspaceParent();
    this.root = path.join(parent, `nsconsole-lessons-${randomBytes(WORKSPACE_NAME_BYTES).toString('hex')}`);
    this.loaded = loadLessons(opts.dir, this.root);
    for (const l of this.loaded) if (!l.lesson) opts.log.warn({ file: l.file }, `lesson not loaded: ${l.error}`);
  }

  /** Makes the lesson's workspace on the host (and the directory holding them) on its first open; not in a sandbox. */
  private makeWorkspace(work: string): void {
    if (this.opts.sandbox) return;
    if (!this.rootMade) {
      try {
        mkdirSync(this.root, { mode: 0o700 }); // not recursive: EEXIST means someone else made it, and we refuse it
      } catch (err) {
        throw new AppError('KERNEL_ERROR', `cannot make the lessons workspace ${this.root}: ${(err as Error).message}`);
      }
      this.rootMade = true;
    }
    mkdirSync(work, { recursive: true, mode: 0o700 });
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
      const inside = this.opts.sandbox ? sandboxResetPlace(await this.opts.sandbox()) : undefined;
      const result = await resetWorkspace({
        ...(inside ? { inside } : {}),
        work: r.work,
        namespaces: (await this.opts.engine.list()).namespaces,
        paneLeaders: leaders,
        shells: this.opts.registry.list().filter((s) => !s.exited).map((s) => s.pid),
        paneForeground: leaders.map((pid) => foregroundOf(pid)).filter((p): p is number => p !== null),
        selfIds: new Set(NS_TYPES.map((t) => safeSelf(this.opts.engine, t))),
      });
      this.makeWorkspace(r.work);
      r.resetProgress();
      return { ...result, progress: r.steps() };
    });
    this.resets.set(id, next);
    return next;
  }

  /**
   * Undo every opened lesson (as reset does) and remove the workspaces: at server shutdown. In a sandbox there is
   * nothing of the lessons on the host: the sandbox, destroyed with the server, takes everything with it.
   */
  async dispose(): Promise<void> {
    if (this.rootMade) {
      for (const id of this.runs.keys()) {
        try {
          const { problems } = await this.reset(id);
          if (problems.length > 0) this.opts.log.warn({ lesson: id, problems }, 'lesson reset at shutdown left something');
          rmdirSync(this.run(id).work);
        } catch (err) {
          this.opts.log.error({ err, lesson: id }, 'could not clean up a lesson workspace');
        }
      }
    }
    for (const r of this.runs.values()) r.dispose();
    if (!this.rootMade) return;
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
      this.makeWorkspace(l.lesson.variables.WORK as string);
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
