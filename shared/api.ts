// REST wire types and their validation, shared by server and browser (no Node, no DOM). Every type is inferred
// from its schema, so the two sides cannot drift. `zod/mini` keeps the browser bundle small (tree-shaken
// functions instead of methods). Requests (browser → server) are strict objects: an unknown key is a client bug.
// Responses (server → browser) are plain objects: unknown keys are stripped, so an older browser keeps working
// against a newer server that added a field.
import * as z from 'zod/mini';
import {
  CONTAINER_REF_PATTERN,
  MAX_COLS,
  MAX_ROWS,
  NS_ID_PATTERN,
  NS_NAME_PATTERN,
  NS_TYPES,
  PROPAGATIONS,
} from './constants.js';

export {
  COMMAND_MAX_BYTES,
  CONTAINER_REF_PATTERN,
  HOST_TOOLS_ROOT,
  MAX_COLS,
  MAX_ROWS,
  NS_ID_PATTERN,
  NS_NAME_PATTERN,
  NS_TYPES,
  PROPAGATIONS,
  nsId,
  nsIdInode,
  nsIdType,
  parseNsId,
  type NsType,
  type Propagation,
} from './constants.js';

/** Largest PID the kernel hands out (PID_MAX_LIMIT on 64-bit). */
const PID_MAX_LIMIT = 4_194_304;

export const NsTypeSchema = z.enum(NS_TYPES);

export const NsIdSchema = z.string().check(z.regex(NS_ID_PATTERN, 'expected a namespace id like mnt:4026532177'));

const Int = z.int();
const Count = z.int().check(z.minimum(0));
const Pid = z.int().check(z.minimum(1), z.maximum(PID_MAX_LIMIT));

// ---- responses (server → browser) ----

export const NamespaceOwnerSchema = z.object({
  uid: Int,
  /** the uid's name from /etc/passwd, or the number */
  user: z.string(),
  /** e.g. `user:4026532177` */
  userns: z.string(),
});
export type NamespaceOwner = z.infer<typeof NamespaceOwnerSchema>;

export const ContainerRuntimeSchema = z.enum(['docker', 'containerd', 'podman', 'cri-o', 'kubernetes']);
export type ContainerRuntime = z.infer<typeof ContainerRuntimeSchema>;

export const ContainerRefSchema = z.object({
  /** the full 64-hex id */
  id: z.string(),
  /** from the runtime's API where its socket is reachable, else the short id */
  name: z.string(),
  runtime: ContainerRuntimeSchema,
});
export type ContainerRef = z.infer<typeof ContainerRefSchema>;

export const NamespaceSchema = z.object({
  id: NsIdSchema,
  type: NsTypeSchema,
  inode: Int,
  /** processes in it; 0 for a namespace held only by an nsfs bind mount */
  nprocs: Count,
  /** lowest PID in it, or null */
  pid: z.nullable(Int),
  user: z.nullable(z.string()),
  command: z.nullable(z.string()),
  /** where it is persisted (nsfs bind mounts), as seen from the server's mount namespace */
  nsfs: z.array(z.string()),
  /** the server's own namespace of this type: the "outside" baseline */
  self: z.boolean(),
  /** set when a fact about it could not be read (e.g. EACCES); the row is still listed */
  error: z.optional(z.string()),
  /** set when the command line was longer than COMMAND_MAX_BYTES: `command` is its start */
  commandTruncated: z.optional(z.boolean()),
  /**
   * Its owning user namespace (for a user namespace: its parent) and the uid that made that one (for a user
   * namespace: its own creator); null when it could not be read or it has no owner (the initial user namespace).
   */
  owner: z.optional(z.nullable(NamespaceOwnerSchema)),
  /**
   * Set when it is owned by a user namespace other than the server's: its owner controls what runs inside, so a
   * shell enters it as that owner (root of that user namespace only), never as root of the machine.
   */
  untrusted: z.optional(z.object({ reason: z.string() })),
  /** the containers that use it (never on the server's own namespaces); [] when none */
  containers: z.optional(z.array(ContainerRefSchema)),
});
export type Namespace = z.infer<typeof NamespaceSchema>;

/** Containers that use a namespace, and the containers the server sees (`GET /api/containers`). */
export const ContainerSchema = z.extend(ContainerRefSchema, {
  /** its lowest process (its init) as the server sees it */
  pid: z.int(),
  image: z.optional(z.string()),
  /** its namespace of each type, e.g. `{ mnt: "mnt:4026532177", … }` */
  namespaces: z.partialRecord(z.enum(NS_TYPES), z.string()),
  /** from Docker Compose's labels */
  compose: z.optional(z.object({ project: z.string(), service: z.string() })),
  /** a Kubernetes pod's name and namespace (labels) and uid (cgroup path), as far as known */
  pod: z.optional(
    z.object({ name: z.optional(z.string()), namespace: z.optional(z.string()), uid: z.optional(z.string()) }),
  ),
});
export type Container = z.infer<typeof ContainerSchema>;

export const ContainerListSchema = z.object({ containers: z.array(ContainerSchema) });
export type ContainerList = z.infer<typeof ContainerListSchema>;

/** A process whose namespaces could not be read; reported, not fatal. */
export const ScanProblemSchema = z.object({
  /** 0 when the problem is not about one process (a whole step of the scan failed) */
  pid: Int,
  reason: z.string(),
});
export type ScanProblem = z.infer<typeof ScanProblemSchema>;

export const NamespaceListSchema = z.object({
  namespaces: z.array(NamespaceSchema),
  problems: z.optional(z.array(ScanProblemSchema)),
});
export type NamespaceList = z.infer<typeof NamespaceListSchema>;

export const MountSchema = z.object({
  id: Int,
  parentId: Int,
  target: z.string(),
  source: z.string(),
  fstype: z.string(),
  options: z.string(),
  superOptions: z.string(),
  root: z.string(),
  propagation: z.enum(PROPAGATIONS),
  peerGroup: z.optional(Int),
  masterGroup: z.optional(Int),
  /** `propagate_from:N` when present */
  propagateFrom: z.optional(Int),
});
export type Mount = z.infer<typeof MountSchema>;

/**
 * Set on a mount table (REST or a live `mounts` message) that is not the whole of what the kernel has.
 * `read`: the server read only the first part of the kernel's table — it was longer than its byte cap
 * (`bytes`) or the kernel took longer than its time budget to print it (`time`); `total` then counts only what
 * was read. `rows`: more rows than one message or page carries; `mounts` holds rows offset … offset+shown-1.
 */
export const TableTruncationSchema = z.object({
  read: z.optional(z.enum(['bytes', 'time'])),
  /** rows in what was read */
  total: Int,
  /** index of the first row in `mounts` */
  offset: Int,
  /** rows in `mounts` */
  shown: Int,
});
export type TableTruncation = z.infer<typeof TableTruncationSchema>;

export const MountTableSchema = z.object({
  namespace: NamespaceSchema,
  mounts: z.array(MountSchema),
  /** absent when `mounts` is the whole table */
  truncated: z.optional(TableTruncationSchema),
});
export type MountTable = z.infer<typeof MountTableSchema>;

/** A page of at most this many rows per REST answer or live message, and at most MOUNTS_MAX_JSON_BYTES of JSON. */
export const MOUNTS_PAGE_MAX_ROWS = 10_000;
/**
 * ...so that no message is bigger than a few MB (issue #16: a 160 MB JSON table exceeded a ws client's payload
 * limit and took seconds to build). Ordinary rows are ~200 bytes: ~10,000 of them fit.
 */
export const MOUNTS_MAX_JSON_BYTES = 2 * 1024 * 1024;

export const MountDiffSchema = z.object({
  onlyA: z.array(MountSchema),
  onlyB: z.array(MountSchema),
  changed: z.array(z.object({ a: MountSchema, b: MountSchema })),
  /** set when either table was truncated (see TableTruncation): the diff covers only what was read */
  truncated: z.optional(z.boolean()),
});
export type MountDiff = z.infer<typeof MountDiffSchema>;

export type DiffKind = 'only-inside' | 'only-outside' | 'changed' | 'same';

// ---- requests (browser → server) ----

export const CreateNamespaceSchema = z.strictObject({
  type: z.literal('mnt'),
  name: z.string().check(z.regex(NS_NAME_PATTERN, 'name must match [A-Za-z0-9_-][A-Za-z0-9._-]{0,63}')),
  /** propagation of the new namespace's mounts; private unless asked */
  propagation: z.optional(z.enum(['private', 'shared', 'slave', 'unchanged'])),
});
export type CreateNamespaceRequest = z.infer<typeof CreateNamespaceSchema>;

/** The same target shapes, strict when the browser sends them, tolerant when the server reports them. */
const targetShapes = {
  host: { kind: z.literal('host') },
  namespace: { kind: z.literal('namespace'), id: NsIdSchema },
  process: { kind: z.literal('process'), pid: Pid },
  container: {
    kind: z.literal('container'),
    /** a full id, a unique id prefix, or a name */
    id: z.string().check(z.regex(CONTAINER_REF_PATTERN, 'expected a container id or name')),
    /** `host`: a host shell in the container's namespaces (not its mount namespace), its files under HOST_TOOLS_ROOT */
    tools: z.optional(z.literal('host')),
  },
};

export const TargetSchema = z.discriminatedUnion('kind', [
  z.strictObject(targetShapes.host),
  z.strictObject(targetShapes.namespace),
  z.strictObject(targetShapes.process),
  z.strictObject(targetShapes.container),
]);
export type Target = z.infer<typeof TargetSchema>;

/** A target as the server reports it (or as this tab stored it). */
export const TargetInfoSchema = z.discriminatedUnion('kind', [
  z.object(targetShapes.host),
  z.object(targetShapes.namespace),
  z.object(targetShapes.process),
  z.object(targetShapes.container),
]);

export const ColsSchema = z.int().check(z.minimum(2), z.maximum(MAX_COLS));
export const RowsSchema = z.int().check(z.minimum(1), z.maximum(MAX_ROWS));

export const CreateSessionSchema = z.strictObject({
  target: z._default(TargetSchema, { kind: 'host' }),
  cols: z._default(ColsSchema, 80),
  rows: z._default(RowsSchema, 24),
});
export type CreateSessionRequest = z.input<typeof CreateSessionSchema>;

// ---- responses, continued ----

export const ExitStatusSchema = z.object({ code: Int, signal: z.nullable(Int) });

export const SessionInfoSchema = z.object({
  id: z.string(),
  target: TargetInfoSchema,
  pid: Int,
  cols: Int,
  rows: Int,
  clients: Count,
  createdAt: z.string(),
  exited: z.nullable(ExitStatusSchema),
  /** who created it (labs: the proxy-given user, or `@token`) */
  owner: z.optional(z.string()),
});
export type SessionInfo = z.infer<typeof SessionInfoSchema>;

export const SessionListSchema = z.object({ sessions: z.array(SessionInfoSchema) });

/** `GET /api/whoami` (labs): the proxy-given user, or `@token` for the token holder */
export const WhoAmISchema = z.object({
  user: z.string(),
  admin: z.boolean(),
  /** --sandbox: the caller's shells and views are in their sandbox (`GET /api/sandbox` names it) */
  sandbox: z.optional(z.boolean()),
});
export type WhoAmI = z.infer<typeof WhoAmISchema>;

/** `GET /api/sandbox` and `POST /api/sandbox/reset` (with --sandbox): the caller's sandbox. */
export const SandboxInfoSchema = z.object({
  id: z.string(),
  hostname: z.string(),
  /** the host uid that is root inside */
  uidBase: z.int(),
  limits: z.object({
    pidsMax: z.int(),
    memoryBytes: z.number(),
    diskBytes: z.number(),
    enforced: z.optional(z.array(z.string())),
    missing: z.optional(z.array(z.string())),
  }),
});
export type SandboxInfoWire = z.infer<typeof SandboxInfoSchema>;

export const ShareLinkSchema = z.object({
  /** a viewer token scoped to one session: read-only */
  token: z.string(),
  /** same-origin path with the viewer token */
  url: z.string().check(z.startsWith('/')),
});
export type ShareLink = z.infer<typeof ShareLinkSchema>;

export const HealthSchema = z.object({ ok: z.literal(true), version: z.string() });
export type Health = z.infer<typeof HealthSchema>;

/** Stable error codes; the HTTP status is fixed per code. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  BAD_NAMESPACE_ID: 400,
  BAD_NAME: 400,
  BAD_TARGET: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN_ORIGIN: 403,
  FORBIDDEN_HOST: 403,
  /** signed in, but this needs an admin (--admin USER or the token) */
  FORBIDDEN: 403,
  READ_ONLY: 403,
  NOT_PRIVILEGED: 403,
  NOT_FOUND: 404,
  NS_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  /** the session's shell has exited: it takes no new viewers or share links */
  SESSION_EXITED: 410,
  PROCESS_NOT_FOUND: 404,
  LESSON_NOT_FOUND: 404,
  CONTAINER_NOT_FOUND: 404,
  NS_EXISTS: 409,
  NS_NOT_OURS: 409,
  NS_BUSY: 409,
  /** the ns-dir (or a directory or link on its path) could be redirected by another user: refused */
  NS_DIR_UNSAFE: 409,
  TARGET_CHANGED: 409,
  /** the lesson file is invalid (GET /api/lessons shows why) */
  LESSON_INVALID: 409,
  /** the container has no shell to run: enter it with `tools: "host"` */
  CONTAINER_NO_SHELL: 409,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_SESSIONS: 429,
  /** this user holds --max-sessions-per-user sessions already (TOO_MANY_SESSIONS: the whole server is full) */
  TOO_MANY_USER_SESSIONS: 429,
  TOO_MANY_CLIENTS: 429,
  RATE_LIMITED: 429,
  KERNEL_ERROR: 500,
  INTERNAL: 500,
  NOT_SUPPORTED: 501,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * An error answer. The browser reads `code` as any string: a code a newer server added still reaches the person
 * with its message instead of turning into "unexpected answer".
 */
export const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** JSON text checked against a schema: the value, or null when it is not JSON or does not match. */
export function parseWire<T>(schema: z.ZodMiniType<T>, text: string): T | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null; // not JSON: the caller treats it like any other message it does not understand
  }
  const r = schema.safeParse(raw);
  return r.success ? r.data : null;
}
