// REST wire types and request validation, shared by server and browser (no Node, no DOM).
import { z } from 'zod';
import { MAX_COLS, MAX_ROWS, NS_ID_PATTERN, NS_NAME_PATTERN, NS_TYPES, type NsType, type Propagation } from './constants.js';

export { MAX_COLS, MAX_ROWS, NS_ID_PATTERN, NS_NAME_PATTERN, NS_TYPES, PROPAGATIONS, nsId, parseNsId, type NsType, type Propagation } from './constants.js';

export const NsTypeSchema = z.enum(NS_TYPES);

export const NsIdSchema = z.string().regex(NS_ID_PATTERN, 'expected a namespace id like mnt:4026532177');

export interface Namespace {
  id: string;
  type: NsType;
  inode: number;
  /** processes in it; 0 for a namespace held only by an nsfs bind mount */
  nprocs: number;
  /** lowest PID in it, or null */
  pid: number | null;
  user: string | null;
  command: string | null;
  /** where it is persisted (nsfs bind mounts), as seen from the server's mount namespace */
  nsfs: string[];
  /** the server's own namespace of this type: the "outside" baseline */
  self: boolean;
  /** set when a fact about it could not be read (e.g. EACCES); the row is still listed */
  error?: string;
  /** set when the command line was longer than COMMAND_MAX_BYTES: `command` is its start */
  commandTruncated?: boolean;
  /**
   * Its owning user namespace (for a user namespace: its parent) and the uid that made that one (for a user
   * namespace: its own creator); null when it could not be read or it has no owner (the initial user namespace).
   */
  owner?: NamespaceOwner | null;
  /**
   * Set when it is owned by a user namespace other than the server's: its owner controls what runs inside, so a
   * shell enters it as that owner (root of that user namespace only), never as root of the machine.
   */
  untrusted?: { reason: string };
}

export interface NamespaceOwner {
  uid: number;
  /** the uid's name from /etc/passwd, or the number */
  user: string;
  /** e.g. `user:4026532177` */
  userns: string;
}

/**
 * The most of a command line that is read and shown. Anyone can start a process with megabytes of argv, and
 * every namespace row of that process repeats it (issue #16: 24 of them made the list too long for a string).
 */
export const COMMAND_MAX_BYTES = 4096;

/** A process whose namespaces could not be read; reported, not fatal. */
export interface ScanProblem {
  /** 0 when the problem is not about one process (a whole step of the scan failed) */
  pid: number;
  reason: string;
}

export interface NamespaceList {
  namespaces: Namespace[];
  problems?: ScanProblem[];
}

export interface Mount {
  id: number;
  parentId: number;
  target: string;
  source: string;
  fstype: string;
  options: string;
  superOptions: string;
  root: string;
  propagation: Propagation;
  peerGroup?: number;
  masterGroup?: number;
  /** `propagate_from:N` when present */
  propagateFrom?: number;
}

/**
 * Set on a mount table (REST or a live `mounts` message) that is not the whole of what the kernel has.
 * `read`: the server read only the first part of the kernel's table — it was longer than its byte cap
 * (`bytes`) or the kernel took longer than its time budget to print it (`time`); `total` then counts only what
 * was read. `rows`: more rows than one message or page carries; `mounts` holds rows offset … offset+shown-1.
 */
export interface TableTruncation {
  read?: 'bytes' | 'time';
  /** rows in what was read */
  total: number;
  /** index of the first row in `mounts` */
  offset: number;
  /** rows in `mounts` */
  shown: number;
}

export interface MountTable {
  namespace: Namespace;
  mounts: Mount[];
  /** absent when `mounts` is the whole table */
  truncated?: TableTruncation;
}

/** A page of at most this many rows per REST answer or live message, and at most MOUNTS_MAX_JSON_BYTES of JSON. */
export const MOUNTS_PAGE_MAX_ROWS = 10_000;
/**
 * ...so that no message is bigger than a few MB (issue #16: a 160 MB JSON table exceeded a ws client's payload
 * limit and took seconds to build). Ordinary rows are ~200 bytes: ~10,000 of them fit.
 */
export const MOUNTS_MAX_JSON_BYTES = 2 * 1024 * 1024;

export interface MountDiff {
  onlyA: Mount[];
  onlyB: Mount[];
  changed: { a: Mount; b: Mount }[];
  /** set when either table was truncated (see TableTruncation): the diff covers only what was read */
  truncated?: boolean;
}

export type DiffKind = 'only-inside' | 'only-outside' | 'changed' | 'same';

export const CreateNamespaceSchema = z.strictObject({
  type: z.literal('mnt'),
  name: z.string().regex(NS_NAME_PATTERN, 'name must match [A-Za-z0-9_-][A-Za-z0-9._-]{0,63}'),
  /** propagation of the new namespace's mounts; private unless asked */
  propagation: z.enum(['private', 'shared', 'slave', 'unchanged']).optional(),
});
export type CreateNamespaceRequest = z.infer<typeof CreateNamespaceSchema>;

export const TargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('host') }),
  z.strictObject({ kind: z.literal('namespace'), id: NsIdSchema }),
  z.strictObject({ kind: z.literal('process'), pid: z.number().int().min(1).max(4_194_304) }),
]);
export type Target = z.infer<typeof TargetSchema>;

export const ColsSchema = z.number().int().min(2).max(MAX_COLS);
export const RowsSchema = z.number().int().min(1).max(MAX_ROWS);

export const CreateSessionSchema = z.strictObject({
  target: TargetSchema.default({ kind: 'host' }),
  cols: ColsSchema.default(80),
  rows: RowsSchema.default(24),
});
export type CreateSessionRequest = z.input<typeof CreateSessionSchema>;

export interface SessionInfo {
  id: string;
  target: Target;
  pid: number;
  cols: number;
  rows: number;
  clients: number;
  createdAt: string;
  exited: { code: number; signal: number | null } | null;
  /** who created it (labs: the proxy-given user, or `@token`) */
  owner?: string;
}

export interface ShareLink {
  /** a viewer token scoped to one session: read-only */
  token: string;
  url: string;
}

export interface Health {
  ok: true;
  version: string;
}

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
  NS_EXISTS: 409,
  NS_NOT_OURS: 409,
  NS_BUSY: 409,
  /** the ns-dir (or a directory or link on its path) could be redirected by another user: refused */
  NS_DIR_UNSAFE: 409,
  TARGET_CHANGED: 409,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_SESSIONS: 429,
  TOO_MANY_CLIENTS: 429,
  RATE_LIMITED: 429,
  KERNEL_ERROR: 500,
  INTERNAL: 500,
  NOT_SUPPORTED: 501,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}
