// Lessons on the wire (REST `/api/lessons…` and the lesson messages of `/ws/events`), shared by server and
// browser. The lesson *file* format is server/lessons/schema.ts; this is what the browser sees of it. Answers are
// non-strict (a newer server may add fields); the client message is strict.
import * as z from 'zod/mini';

export const LessonPaneSchema = z.enum(['outside', 'inside']);
export type LessonPane = z.infer<typeof LessonPaneSchema>;

export const LessonCommandSchema = z.object({
  /** the terminal pane the command is typed into */
  pane: LessonPaneSchema,
  /** the command line, variables (e.g. ${WORK}) already replaced; typed as is, then Enter */
  text: z.string(),
});
export type LessonCommand = z.infer<typeof LessonCommandSchema>;

export const LessonStepSchema = z.object({
  title: z.string(),
  /** prose, Markdown-ish plain text (paragraphs separated by blank lines, `code` in backticks) */
  text: z.string(),
  commands: z.array(LessonCommandSchema),
  hints: z.array(z.string()),
  /** what the server checks for this step, in words (the checks themselves stay on the server) */
  checks: z.array(z.string()),
});
export type LessonStep = z.infer<typeof LessonStepSchema>;

/** One entry of `GET /api/lessons`; `error` set (and `steps` empty) when the lesson file is invalid. */
export const LessonInfoSchema = z.object({
  id: z.string(),
  title: z.string(),
  summary: z.string(),
  steps: z.array(LessonStepSchema),
  /** `lessons/foo.yaml:12:5: steps.2.checks: …` when the file could not be loaded */
  error: z.optional(z.string()),
});
export type LessonInfo = z.infer<typeof LessonInfoSchema>;

export const LessonListSchema = z.object({ lessons: z.array(LessonInfoSchema) });
export type LessonList = z.infer<typeof LessonListSchema>;

export const StepStateSchema = z.enum(['pending', 'passed']);
export type StepState = z.infer<typeof StepStateSchema>;

export const StepProgressSchema = z.object({
  state: StepStateSchema,
  /** for the first pending step: what the kernel shows instead, in words */
  reason: z.optional(z.string()),
});
export type StepProgress = z.infer<typeof StepProgressSchema>;

/** `GET /api/lessons/:id`: the lesson, its variables and its current progress. */
export const LessonDetailSchema = z.extend(LessonInfoSchema, {
  /** variable values of this server's run, e.g. { WORK: "/tmp/nsconsole-lessons-Ab12/mount-namespaces" } */
  variables: z.record(z.string(), z.string()),
  progress: z.array(StepProgressSchema),
});
export type LessonDetail = z.infer<typeof LessonDetailSchema>;

/** `POST /api/lessons/:id/reset` → what was removed, and the progress (all pending). */
export const LessonResetResultSchema = z.object({
  removed: z.object({
    /** processes ended because they were in a namespace the lesson made */
    processes: z.array(z.object({ pid: z.int(), command: z.string() })),
    /** mount points (nsfs binds included) unmounted in the lesson's workspace, as seen from the server */
    mounts: z.array(z.string()),
    /** files and directories deleted from the workspace (top-level entries) */
    files: z.array(z.string()),
  }),
  /** what could not be undone, in words (the rest was still done) */
  problems: z.array(z.string()),
  progress: z.array(StepProgressSchema),
});
export type LessonResetResult = z.infer<typeof LessonResetResultSchema>;

/** Lesson ids are file names: `mount-namespaces` from lessons/mount-namespaces.yaml. */
export const LESSON_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

const SessionIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a session id'));

/**
 * `/ws/events` client message: show (and check) this lesson, with these terminal sessions as its panes.
 * `id: null` stops following a lesson. Send it again whenever a pane's session changes.
 */
export const LessonClientMessageSchema = z.strictObject({
  type: z.literal('lesson'),
  id: z.nullable(z.string().check(z.regex(LESSON_ID_PATTERN, 'expected a lesson id like mount-namespaces'))),
  panes: z._default(z.strictObject({ outside: z.optional(SessionIdSchema), inside: z.optional(SessionIdSchema) }), {}),
});
export type LessonClientMessage = z.infer<typeof LessonClientMessageSchema>;

/** `/ws/events` server message: the progress of the followed lesson, sent on follow and on every change. */
export const LessonServerMessageSchema = z.object({
  type: z.literal('lesson'),
  id: z.string(),
  steps: z.array(StepProgressSchema),
});
export type LessonServerMessage = z.infer<typeof LessonServerMessageSchema>;
