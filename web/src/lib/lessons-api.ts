// The lesson client: REST calls for the lesson list, a lesson run and its reset, validated at the boundary, and
// the tiny prose formatter the panel uses. Wire types: shared/lessons.ts (types only: that module loads zod).
import { bad, request } from './api.js';
import { isInt, isObj, isStr } from './guards.js';
import type {
  LessonClientMessage,
  LessonCommand,
  LessonDetail,
  LessonInfo,
  LessonResetResult,
  LessonServerMessage,
  LessonStep,
  StepProgress,
} from '../../../shared/lessons.js';

export type { LessonClientMessage, LessonInfo, LessonServerMessage, LessonStep, StepProgress };

const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);

function isCommand(v: unknown): v is LessonCommand {
  return isObj(v) && (v.pane === 'outside' || v.pane === 'inside') && isStr(v.text);
}

function isStep(v: unknown): v is LessonStep {
  return isObj(v) && isStr(v.title) && isStr(v.text) && Array.isArray(v.commands) && v.commands.every(isCommand) && isStrArray(v.hints) && isStrArray(v.checks);
}

function isLesson(v: unknown): v is LessonInfo {
  return isObj(v) && isStr(v.id) && isStr(v.title) && isStr(v.summary) && Array.isArray(v.steps) && v.steps.every(isStep) && (v.error === undefined || isStr(v.error));
}

function isProgressEntry(v: unknown): v is StepProgress {
  return isObj(v) && (v.state === 'pending' || v.state === 'passed') && (v.reason === undefined || isStr(v.reason));
}

export const isProgress = (v: unknown): v is StepProgress[] => Array.isArray(v) && v.every(isProgressEntry);

function isResetResult(v: unknown): v is LessonResetResult {
  if (!isObj(v) || !isObj(v.removed) || !isStrArray(v.problems) || !isProgress(v.progress)) return false;
  const r = v.removed;
  return isStrArray(r.mounts) && isStrArray(r.files) && Array.isArray(r.processes) && r.processes.every((p) => isObj(p) && isInt(p.pid) && isStr(p.command));
}

export async function listLessons(): Promise<LessonInfo[]> {
  const v = await request('GET', '/api/lessons');
  if (!isObj(v) || !Array.isArray(v.lessons) || !v.lessons.every(isLesson)) throw bad('the lesson list');
  return v.lessons;
}

/** One lesson with this server's variables and its current progress. */
export async function getLesson(id: string): Promise<LessonDetail> {
  const v = await request('GET', `/api/lessons/${encodeURIComponent(id)}`);
  if (!isObj(v) || !isLesson(v) || !isProgress(v.progress) || !isObj(v.variables) || !Object.values(v.variables).every(isStr)) throw bad('the lesson');
  return { ...v, variables: v.variables as Record<string, string>, progress: v.progress };
}

/** Undo what the lesson made; resolves to what was removed. */
export async function resetLesson(id: string): Promise<LessonResetResult> {
  const v = await request('POST', `/api/lessons/${encodeURIComponent(id)}/reset`);
  if (!isResetResult(v)) throw bad('the lesson reset');
  return v;
}

/** What a reset removed, one line each, for the panel. */
export function resetLines(r: LessonResetResult): string[] {
  return [
    ...r.removed.mounts.map((m) => `unmounted ${m}`),
    ...r.removed.processes.map((p) => `ended process ${p.pid} (${p.command})`),
    ...r.removed.files.map((f) => `deleted ${f}`),
  ];
}

/** A lesson frame of the event stream, or null when the frame is something else (or malformed). */
export function parseLessonEvent(v: unknown): LessonServerMessage | null {
  return isObj(v) && v.type === 'lesson' && isStr(v.id) && isProgress(v.steps) ? { type: 'lesson', id: v.id, steps: v.steps } : null;
}

/** One paragraph of prose as runs of text and `code`. */
export type ProsePart = { text: string; code: boolean };

/** Paragraphs split at blank lines; inside each, `backtick` spans become code parts. */
export function proseParagraphs(text: string): ProsePart[][] {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .filter((p) => p.length > 0)
    .map((p) => p.split('`').map((t, i) => ({ text: t, code: i % 2 === 1 })).filter((part) => part.text.length > 0));
}

const LESSON_PARAM = 'lesson';

/** The lesson `/?lesson=ID` asks for, or null. */
export function lessonParam(): string | null {
  return new URLSearchParams(location.search).get(LESSON_PARAM);
}

/** Keep `?lesson=` in the address in step with the open lesson (other parameters stay), so a reload reopens it. */
export function setLessonParam(id: string | null): void {
  const params = new URLSearchParams(location.search);
  if (id === null) params.delete(LESSON_PARAM);
  else params.set(LESSON_PARAM, id);
  const search = params.toString();
  history.replaceState(history.state, '', location.pathname + (search ? `?${search}` : '') + location.hash);
}
