// REST wire types and request validation, shared by server and browser (no Node, no DOM).
import { z } from 'zod';
import { CONTAINER_REF_PATTERN, MAX_COLS, MAX_ROWS, NS_ID_PATTERN, NS_NAME_PATTERN, NS_TYPES, type NsType, type Propagation } from './constants.js';

export { CONTAINER_REF_PATTERN, HOST_TOOLS_ROOT, MAX_COLS, MAX_ROWS, NS_ID_PATTERN, NS_NAME_PATTERN, NS_TYPES, PROPAGATIONS, nsId, parseNsId, type NsType, type Propagation } from './constants.js';

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
  /** the containers that use it (never on the server's own namespaces); [] when none */
  containers?: ContainerRef[];
}

export type ContainerRuntime = 'docker' | 'containerd' | 'podman' | 'cri-o' | 'kubernetes';

export interface ContainerRef {
  /** the full 64-hex id */
  id: string;
  /** from the runtime's API where its socket is reachable, else the short id */
  name: string;
  runtime: ContainerRuntime;
}

export interface Container extends ContainerRef {
  /** its lowest process (its init) as the server sees it */
  pid: number;
  image?: string;
  /** its namespace of each type, e.g. `{ mnt: "mnt:4026532177", … }` */
  namespaces: Partial<Record<NsType, string>>;
  /** from Docker Compose's labels */
  compose?: { project: string; service: string };
  /** a Kubernetes pod's name and namespace (labels) and uid (cgroup path), as far as known */
  pod?: { name?: string; namespace?: string; uid?: string };
}

export interface ContainerList {
  containers: Container[];
}

export interface NamespaceOwner {
  uid: number;
  /** the uid's name from /etc/passwd, or the number */
  user: string;
  /** e.g. `user:4026532177` */
  userns: string;
}

/** A process whose namespaces could not be read; reported, not fatal. */
export interface ScanProblem {
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

export interface MountTable {
  namespace: Namespace;
  mounts: Mount[];
}

export interface MountDiff {
  onlyA: Mount[];
  onlyB: Mount[];
  changed: { a: Mount; b: Mount }[];
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
  z.strictObject({
    kind: z.literal('container'),
    /** a full id, a unique id prefix, or a name */
    id: z.string().regex(CONTAINER_REF_PATTERN, 'expected a container id or name'),
    /** `host`: a host shell in the container's namespaces (not its mount namespace), its files under HOST_TOOLS_ROOT */
    tools: z.literal('host').optional(),
  }),
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
  READ_ONLY: 403,
  NOT_PRIVILEGED: 403,
  NOT_FOUND: 404,
  NS_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  PROCESS_NOT_FOUND: 404,
  CONTAINER_NOT_FOUND: 404,
  NS_EXISTS: 409,
  NS_NOT_OURS: 409,
  NS_BUSY: 409,
  /** the ns-dir (or a directory or link on its path) could be redirected by another user: refused */
  NS_DIR_UNSAFE: 409,
  TARGET_CHANGED: 409,
  /** the container has no shell to run: enter it with `tools: "host"` */
  CONTAINER_NO_SHELL: 409,
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
