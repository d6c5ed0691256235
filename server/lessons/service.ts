// The lessons of this server: loaded once at start from lessons/, each with its own workspace directory (a fresh
// temporary directory per server, so two servers or two lessons never collide, and nothing goes under /root) and
// its run (progress). Used by the REST routes and the /ws/events lesson messages.
// The workspace directory is named at start (the lessons' variables hold its path) but made only when a lesson is
// first opened, and removed at dispose: a server that never opened one, or was killed, leaves no empty directory.
// With --sandbox each user's lessons run in that user's own sandbox (places.ts): their own progress, checked against
// their sandbox's kernel state, fed only by their own terminals; the workspace is made there by the lesson's own
// commands (each sandbox's /tmp is its own, so every user has the same WORK path), never on the host, and Reset
// acts inside that sandbox only (sandbox-reset.ts).
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
import { hostPlace, sandboxPlace, type LessonPlace, type LessonSandboxes } from './places.js';
import { resetWorkspace } from './reset.js';
import { LessonRun, type Viewer } from './runner.js';

/** Workspace paths are typed into shells by the lessons' commands: only characters no shell treats specially. */
const SHELL_SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export interface LessonServiceOptions {
  dir: string;
  /** the host's namespace engine: the view of every caller's lessons without --sandbox */
  engine: NamespaceEngine;
  registry: Pick<TerminalRegistry, 'get' | 'list'>;
  log: Logger;
  /** --sandbox: each user's lessons run in their own sandbox; absent: every caller's run on the host */
  sandboxes?: LessonSandboxes;
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

/** The key of the one place on a host (user names are never empty, so it never clashes with an owner). */
const HOST_KEY = '';

/** One place's runs: one per lesson opened there. */
interface PlaceRuns {
  place: LessonPlace;
  runs: Map<string, LessonRun>;
}

export class LessonService {
  readonly root: string;
  private readonly loaded: LoadedLesson[];
  /**
   * Runs by place (HOST_KEY; with --sandbox, the sandbox's owner), then by lesson. Bounded with --sandbox: an
   * owner's runs go when their sandbox goes (idle, reset, shutdown: `onDropped`), except those an event stream
   * follows (each stream follows one), whose progress starts over instead; runs of owners with no live sandbox
   * and no follower are pruned whenever a run is made.
   */
  private readonly places = new Map<string, PlaceRuns>();
  private readonly resets = new Map<string, Promise<LessonResetResult>>();
  private readonly unsubscribe: (() => void) | null;
  /** the workspace directory exists on the host (made by this server, on a lesson's first open) */
  private rootMade = false;

  constructor(private readonly opts: LessonServiceOptions) {
    const parent = opts.sandboxes ? SANDBOX_WORKSPACE_PARENT : workspaceParent();
    this.root = path.join(parent, `nsconsole-lessons-${randomBytes(WORKSPACE_NAME_BYTES).toString('hex')}`);
    this.loaded = loadLessons(opts.dir, this.root);
    for (const l of this.loaded) if (!l.lesson) opts.log.warn({ file: l.file }, `lesson not loaded: ${l.error}`);
    this.unsubscribe = opts.sandboxes?.manager.onDropped((owner) => this.sandboxDropped(owner)) ?? null;
  }

  /** Makes the lesson's workspace on the host (and the directory holding them) on its first open; not in a sandbox. */
  private makeWorkspace(work: string): void {
    if (this.opts.sandboxes) return;
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
    return this.loaded.map((l) =>
      l.lesson ? info(l.lesson) : { id: l.id, title: l.id, summary: '', steps: [], error: l.error },
    );
  }

  /** `owner`: the caller (sandbox/owners.ts); with --sandbox their own run, on a host the one run of the lesson. */
  detail(owner: string, id: string): LessonDetail {
    const l = this.find(id);
    if (!l.lesson) return { id: l.id, title: l.id, summary: '', steps: [], error: l.error, variables: {}, progress: [] };
    return { ...info(l.lesson), variables: { ...l.lesson.variables }, progress: this.run(owner, id).steps() };
  }

  /** Follow a lesson's progress (see LessonRun.follow) as `owner`; with --sandbox their own panes only. */
  follow(owner: string, id: string, panes: Partial<Record<LessonPane, string>>, viewer: Viewer): () => void {
    return this.run(owner, id).follow(viewer, panes);
  }

  reset(owner: string, id: string): Promise<LessonResetResult> {
    const r = this.run(owner, id);
    const { place } = this.placeRuns(owner);
    // Two resets at once would race each other's umounts: the second waits for the first.
    const key = `${this.keyOf(owner)}\n${id}`;
    const prev = this.resets.get(key) ?? Promise.resolve(null);
    const next = prev.then(async () => {
      const panes = r.panes();
      const leaders = (['outside', 'inside'] as const)
        .map((p) => this.leaderPid(place, panes[p]))
        .filter((p): p is number => p !== null);
      const inside = await place.resetPlace(); // first: it makes the sandbox when there is none
      const result = await resetWorkspace({
        ...(inside ? { inside } : {}),
        work: r.work,
        namespaces: (await place.engine.list()).namespaces,
        paneLeaders: leaders,
        shells: this.opts.registry
          .list()
          .filter((s) => !s.exited)
          .map((s) => s.pid),
        paneForeground: leaders.map((pid) => foregroundOf(pid)).filter((p): p is number => p !== null),
        selfIds: new Set(NS_TYPES.map((t) => place.outside.self(t) ?? '')),
      });
      this.makeWorkspace(r.work);
      r.resetProgress();
      return { ...result, progress: r.steps() };
    });
    this.resets.set(key, next);
    const forget = () => {
      if (this.resets.get(key) === next) this.resets.delete(key);
    };
    next.then(forget, forget);
    return next;
  }

  /**
   * Undo every opened lesson (as reset does) and remove the workspaces: at server shutdown. In a sandbox there is
   * nothing of the lessons on the host: the sandboxes, destroyed with the server, take everything with them.
   */
  async dispose(): Promise<void> {
    this.unsubscribe?.();
    const host = this.places.get(HOST_KEY);
    if (this.rootMade && host) {
      for (const [id, r] of host.runs) {
        try {
          const { problems } = await this.reset(HOST_KEY, id);
          if (problems.length > 0) this.opts.log.warn({ lesson: id, problems }, 'lesson reset at shutdown left something');
          rmdirSync(r.work);
        } catch (err) {
          this.opts.log.error({ err, lesson: id }, 'could not clean up a lesson workspace');
        }
      }
    }
    for (const { runs } of this.places.values()) for (const r of runs.values()) r.dispose();
    this.places.clear();
    if (!this.rootMade) return;
    try {
      rmdirSync(this.root);
    } catch (err) {
      // Swallow into the log: a workspace left behind is untidy, not harmful (it is in the temporary directory).
      this.opts.log.error({ err, root: this.root }, 'could not remove the lessons workspace');
    }
  }

  /** Runs kept now, over every place (tests of the bound). */
  get runCount(): number {
    let n = 0;
    for (const { runs } of this.places.values()) n += runs.size;
    return n;
  }

  /** `owner`'s sandbox went (with everything the lessons made in it): its runs go, or start over if followed. */
  private sandboxDropped(owner: string): void {
    const entry = this.places.get(owner);
    if (!entry) return;
    for (const [id, r] of entry.runs) {
      if (r.following) {
        r.resetProgress();
        continue;
      }
      r.dispose();
      entry.runs.delete(id);
    }
    if (entry.runs.size === 0) this.places.delete(owner);
  }

  /** Drops the runs nobody follows of owners without a live sandbox (they would start over anyway). */
  private prune(): void {
    const alive = new Set(this.opts.sandboxes?.manager.owners() ?? []);
    for (const [owner, entry] of this.places) {
      if (alive.has(owner)) continue;
      for (const [id, r] of entry.runs) {
        if (r.following) continue;
        r.dispose();
        entry.runs.delete(id);
      }
      if (entry.runs.size === 0) this.places.delete(owner);
    }
  }

  private keyOf(owner: string): string {
    return this.opts.sandboxes ? owner : HOST_KEY;
  }

  private placeRuns(owner: string): PlaceRuns {
    const key = this.keyOf(owner);
    let entry = this.places.get(key);
    if (!entry) {
      const sb = this.opts.sandboxes;
      entry = { place: sb ? sandboxPlace(sb, owner) : hostPlace(this.opts.engine), runs: new Map() };
      this.places.set(key, entry);
    }
    return entry;
  }

  private leaderPid(place: LessonPlace, sessionId: string | undefined): number | null {
    if (sessionId === undefined || !place.ownsSession(sessionId)) return null;
    const s = this.opts.registry.get(sessionId);
    return s && !s.info().exited ? s.pid : null;
  }

  private find(id: string): LoadedLesson {
    const l = this.loaded.find((x) => x.id === id);
    if (!l) throw new AppError('LESSON_NOT_FOUND', `no lesson ${JSON.stringify(id)}; GET /api/lessons lists them`);
    return l;
  }

  private run(owner: string, id: string): LessonRun {
    const l = this.find(id);
    if (!l.lesson) throw new AppError('LESSON_INVALID', `lesson ${id} could not be loaded: ${l.error}`);
    const existing = this.places.get(this.keyOf(owner))?.runs.get(id);
    if (existing) return existing;
    if (this.opts.sandboxes) this.prune();
    else this.makeWorkspace(l.lesson.variables.WORK as string);
    const { place, runs } = this.placeRuns(owner);
    const r = new LessonRun(l.lesson, {
      engine: place.engine,
      outside: place.outside,
      log: this.opts.log,
      sessions: {
        leaderPid: (sid) => this.leaderPid(place, sid),
        onActivity: (sid, fn) => (place.ownsSession(sid) ? (this.opts.registry.get(sid)?.onActivity(fn) ?? null) : null),
      },
    });
    runs.set(id, r);
    return r;
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
