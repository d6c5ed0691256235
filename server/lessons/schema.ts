// The lesson file format (lessons/*.yaml), as zod schemas. A teacher writes these; docs/lessons.md explains them.
// Checks are declarative: each is a mapping whose "kind" key (mount, persisted, pane, file, peers, not-peers,
// master) says what is asked. They are validated one kind at a time so an error names the field that is wrong.
import { z } from 'zod';
import { NS_TYPES, PROPAGATIONS } from '../../shared/api.js';

export const PaneSchema = z.enum(['outside', 'inside']);

/**
 * Which namespace a check looks at: `outside` (the server's own), `inside` (the one the Inside pane's foreground
 * process is in now), `outside-pane` (the Outside pane's), or a path: the namespace persisted (nsfs-bound) there.
 */
export const RefSchema = z.union([
  z.enum(['outside', 'inside', 'outside-pane']),
  z.string().regex(/^(\/|\$\{)/, 'expected outside, inside, outside-pane or the path a namespace is persisted at'),
]);
export type Ref = z.infer<typeof RefSchema>;

/** An absolute path; variables like ${WORK} are replaced (and the result checked) by the loader. */
const PathSchema = z
  .string()
  .min(1)
  .regex(/^(\/|\$\{)/, 'expected an absolute path (or one starting with ${WORK})')
  .refine((p) => !p.split('/').some((seg) => seg === '..' || seg === '.'), 'a path may not contain . or .. segments');

const MountRefSchema = z.strictObject({ mount: PathSchema, in: RefSchema.default('outside') });
export type MountRef = z.infer<typeof MountRefSchema>;

export const CHECK_SCHEMAS = {
  /** is PATH a mount point in a namespace (with this propagation / fstype / source), and maybe not in another */
  mount: z.strictObject({
    mount: PathSchema,
    in: RefSchema.default('outside'),
    exists: z.boolean().default(true),
    propagation: z.enum(PROPAGATIONS).optional(),
    fstype: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    /** …and there is no such mount in this namespace (e.g. `in: inside`, `not-in: outside`: only inside) */
    'not-in': RefSchema.optional(),
    /** …and the same mount is in this namespace too (in both) */
    'also-in': RefSchema.optional(),
  }),
  /** is a namespace persisted (nsfs-bound) at PATH, of this type, with this many processes */
  persisted: z.strictObject({
    persisted: PathSchema,
    type: z.enum(NS_TYPES).optional(),
    nprocs: z.number().int().min(0).optional(),
    exists: z.boolean().default(true),
  }),
  /** which namespace (of `type`, default mnt) a pane's foreground process is in */
  pane: z
    .strictObject({
      pane: PaneSchema,
      type: z.enum(NS_TYPES).default('mnt'),
      'same-as': RefSchema.optional(),
      'differs-from': RefSchema.optional(),
    })
    .refine((c) => c['same-as'] !== undefined || c['differs-from'] !== undefined, 'a pane check needs same-as or differs-from'),
  /** does PATH exist as seen from a namespace (a stat through /proc/PID/root of a process in it) */
  file: z.strictObject({
    file: PathSchema,
    in: RefSchema.default('outside'),
    exists: z.boolean().default(true),
    is: z.enum(['file', 'directory']).optional(),
  }),
  /** two mounts are in the same peer group (a mount event on one propagates to the other) */
  peers: z.strictObject({ peers: z.tuple([MountRefSchema, MountRefSchema]) }),
  /** two mounts exist and are not peers */
  'not-peers': z.strictObject({ 'not-peers': z.tuple([MountRefSchema, MountRefSchema]) }),
  /** `slave` receives from `master`: its master group is the master's peer group */
  master: z.strictObject({ master: MountRefSchema, slave: MountRefSchema }),
} as const;

export type CheckKind = keyof typeof CHECK_SCHEMAS;
export const CHECK_KINDS = Object.keys(CHECK_SCHEMAS) as CheckKind[];
export type Check = { [K in CheckKind]: { kind: K } & z.output<(typeof CHECK_SCHEMAS)[K]> }[CheckKind];

/** Picks the schema by the check's kind key, so errors name the wrong field rather than "no union matched". */
const CheckSchema = z.unknown().transform((raw, ctx): Check => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    ctx.addIssue({ code: 'custom', message: `a check is a mapping with one of: ${CHECK_KINDS.join(', ')}` });
    return z.NEVER;
  }
  const kinds = CHECK_KINDS.filter((k) => k in raw);
  if (kinds.length !== 1) {
    ctx.addIssue({ code: 'custom', message: kinds.length === 0 ? `a check needs one of: ${CHECK_KINDS.join(', ')}` : `a check asks one thing; found ${kinds.join(' and ')}` });
    return z.NEVER;
  }
  const kind = kinds[0] as CheckKind;
  const r = CHECK_SCHEMAS[kind].safeParse(raw);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as (string | number)[] });
    return z.NEVER;
  }
  return { kind, ...r.data } as Check;
});

/** A command aimed at one pane: `- outside: mkdir …` or `- inside: unshare …`. */
const CommandSchema = z.union([z.strictObject({ outside: z.string().min(1) }), z.strictObject({ inside: z.string().min(1) })], {
  error: 'a command is `outside: COMMAND` or `inside: COMMAND`',
});

export const StepSchema = z.strictObject({
  title: z.string().min(1),
  text: z.string().default(''),
  commands: z.array(CommandSchema).default([]),
  checks: z
    .array(CheckSchema, { error: (iss) => (iss.input === undefined ? 'every step needs at least one check (how else would it pass?)' : undefined) })
    .min(1, 'every step needs at least one check (how else would it pass?)'),
  hints: z.array(z.string().min(1)).default([]),
});

export const LessonFileSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'an id is lower-case letters, digits and -'),
  title: z.string().min(1),
  summary: z.string().min(1),
  steps: z.array(StepSchema).min(1, 'a lesson needs at least one step'),
});
export type LessonFile = z.output<typeof LessonFileSchema>;
export type LessonFileStep = LessonFile['steps'][number];
