// The lesson client: REST calls for the lesson list, a lesson run and its reset, validated at the boundary, and
// the tiny prose formatter the panel uses. Answers are checked against the shared schemas (shared/lessons.ts).
import { expect, request } from './api.js';
import {
  LessonDetailSchema,
  LessonListSchema,
  LessonResetResultSchema,
  type LessonClientMessage,
  type LessonDetail,
  type LessonInfo,
  type LessonResetResult,
  type LessonServerMessage,
  type LessonStep,
  type StepProgress,
} from '../../../shared/lessons.js';

export type { LessonClientMessage, LessonInfo, LessonServerMessage, LessonStep, StepProgress };

export async function listLessons(): Promise<LessonInfo[]> {
  return expect(LessonListSchema, await request('GET', '/api/lessons'), 'the lesson list').lessons;
}

/** One lesson with this server's variables and its current progress. */
export async function getLesson(id: string): Promise<LessonDetail> {
  return expect(LessonDetailSchema, await request('GET', `/api/lessons/${encodeURIComponent(id)}`), 'the lesson');
}

/** Undo what the lesson made; resolves to what was removed. */
export async function resetLesson(id: string): Promise<LessonResetResult> {
  return expect(
    LessonResetResultSchema,
    await request('POST', `/api/lessons/${encodeURIComponent(id)}/reset`),
    'the lesson reset',
  );
}

/** What a reset removed, one line each, for the panel. */
export function resetLines(r: LessonResetResult): string[] {
  return [
    ...r.removed.mounts.map((m) => `unmounted ${m}`),
    ...r.removed.processes.map((p) => `ended process ${p.pid} (${p.command})`),
    ...r.removed.files.map((f) => `deleted ${f}`),
  ];
}

/** One paragraph of prose as runs of text and `code`. */
export type ProsePart = { text: string; code: boolean };

/** Paragraphs split at blank lines; inside each, `backtick` spans become code parts. */
export function proseParagraphs(text: string): ProsePart[][] {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .filter((p) => p.length > 0)
    .map((p) =>
      p
        .split('`')
        .map((t, i) => ({ text: t, code: i % 2 === 1 }))
        .filter((part) => part.text.length > 0),
    );
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
