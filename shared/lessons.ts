// Lessons on the wire (REST `/api/lessons…` and the lesson messages of `/ws/events`), shared by server and
// browser. The lesson *file* format is server/lessons/schema.ts; this is what the browser sees of it.
import { z } from 'zod';

export type LessonPane = 'outside' | 'inside';

export interface LessonCommand {
  /** the terminal pane the command is typed into */
  pane: LessonPane;
  /** the command line, variables (e.g. ${WORK}) already replaced; typed as is, then Enter */
  text: string;
}

export interface LessonStep {
  title: string;
  /** prose, Markdown-ish plain text (paragraphs separated by blank lines, `code` in backticks) */
  text: string;
  commands: LessonCommand[];
  hints: string[];
  /** what the server checks for this step, in words (the checks themselves stay on the server) */
  checks: string[];
}

/** One entry of `GET /api/lessons`; `error` set (and `steps` empty) when the lesson file is invalid. */
export interface LessonInfo {
  id: string;
  title: string;
  summary: string;
  steps: LessonStep[];
  /** `lessons/foo.yaml:12:5: steps.2.checks: …` when the file could not be loaded */
  error?: string;
}

export interface LessonList {
  lessons: LessonInfo[];
}

export type StepState = 'pending' | 'passed';

export interface StepProgress {
  state: StepState;
  /** for the first pending step: what the kernel shows instead, in words */
  reason?: string;
}

/** `GET /api/lessons/:id`: the lesson, its variables and its current progress. */
export interface LessonDetail extends LessonInfo {
  /** variable values of this server's run, e.g. { WORK: "/tmp/nsconsole-lessons-Ab12/mount-namespaces" } */
  variables: Record<string, string>;
  progress: StepProgress[];
}

/** `POST /api/lessons/:id/reset` → what was removed, and the progress (all pending). */
export interface LessonResetResult {
  removed: {
    /** processes ended because they were in a namespace the lesson made */
    processes: { pid: number; command: string }[];
    /** mount points (nsfs binds included) unmounted in the lesson's workspace, as seen from the server */
    mounts: string[];
    /** files and directories deleted from the workspace (top-level entries) */
    files: string[];
  };
  /** what could not be undone, in words (the rest was still done) */
  problems: string[];
  progress: StepProgress[];
}

/** Lesson ids are file names: `mount-namespaces` from lessons/mount-namespaces.yaml. */
export const LESSON_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

const SessionIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a session id');

/**
 * `/ws/events` client message: show (and check) this lesson, with these terminal sessions as its panes.
 * `id: null` stops following a lesson. Send it again whenever a pane's session changes.
 */
export const LessonClientMessageSchema = z.strictObject({
  type: z.literal('lesson'),
  id: z.string().regex(LESSON_ID_PATTERN, 'expected a lesson id like mount-namespaces').nullable(),
  panes: z.strictObject({ outside: SessionIdSchema.optional(), inside: SessionIdSchema.optional() }).default({}),
});
export type LessonClientMessage = z.infer<typeof LessonClientMessageSchema>;

/** `/ws/events` server message: the progress of the followed lesson, sent on follow and on every change. */
export interface LessonServerMessage {
  type: 'lesson';
  id: string;
  steps: StepProgress[];
}
