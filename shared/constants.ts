// Plain values of the contract and pure helpers on them, with no zod: a module that needs only a value (a close
// code, a pattern) imports it from here without building any schema. api.ts and protocol.ts re-export every
// name, so server code keeps importing from them.

export const NS_TYPES = ['mnt', 'uts', 'ipc', 'net', 'pid', 'user', 'cgroup', 'time'] as const;
export type NsType = (typeof NS_TYPES)[number];

/** `mnt:4026532177` — type and inode; the only way a client names a namespace. */
export const NS_ID_PATTERN = /^(mnt|uts|ipc|net|pid|user|cgroup|time):([1-9][0-9]{0,19})$/;

export function nsId(type: NsType, inode: number | string): string {
  return `${type}:${inode}`;
}

export function parseNsId(id: string): { type: NsType; inode: string } | null {
  const m = NS_ID_PATTERN.exec(id);
  return m ? { type: m[1] as NsType, inode: m[2] as string } : null;
}

/** The type of a namespace id already known to be one (it passed NS_ID_PATTERN, or nsId() made it). */
export function nsIdType(id: string): NsType {
  return id.slice(0, id.indexOf(':')) as NsType;
}

/** The inode of a namespace id already known to be one: `mnt:4026532177` → `4026532177`. */
export function nsIdInode(id: string): string {
  return id.slice(id.indexOf(':') + 1);
}

/** A name for a namespace nsconsole creates: never `.` or `..`. */
export const NS_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

export const PROPAGATIONS = ['shared', 'private', 'slave', 'unbindable', 'slave,shared'] as const;
export type Propagation = (typeof PROPAGATIONS)[number];

/**
 * The most of a command line that is read and shown. Anyone can start a process with megabytes of argv, and
 * every namespace row of that process repeats it (issue #16: 24 of them made the list too long for a string).
 * 256 bytes is more than a list cell shows and names any command a person types (lsns's table cuts it to the
 * terminal's width); at 1 KiB, 24 such processes' ~100 rows still made the list 130 kB and ~2× slower to
 * build and send, at 4 KiB over 4× (`npm run bench -- fairness`). The whole line stays in /proc/PID/cmdline.
 */
export const COMMAND_MAX_BYTES = 256;

/** Terminal sizes outside this range are rejected as absurd. */
export const MAX_COLS = 1000;
export const MAX_ROWS = 500;

/** WebSocket close codes the server uses (4000-4999 are application codes). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  /** RFC 6455: the request was refused (the generic close of a 4xx error code, server/errors.ts) */
  POLICY_VIOLATION: 1008,
  TOO_BIG: 1009,
  /** RFC 6455: the server failed (the generic close of a 5xx error code, server/errors.ts) */
  INTERNAL_ERROR: 1011,
  SESSION_EXITED: 4000,
  SESSION_NOT_FOUND: 4004,
  TOO_MANY_CLIENTS: 4029,
  /** a read-only viewer fell too far behind the live output; reconnecting gets it the current screen */
  VIEWER_TOO_SLOW: 4008,
  /** the client stopped reading: more than the per-socket bound was queued for it (server/ws/outbox.ts) */
  NOT_READING: 4009,
  /** the client acked more terminal output than was sent to it and not yet acked */
  BAD_ACK: 4010,
  /** the client kept sending messages that are refused (or faster than allowed) after being told */
  TOO_MANY_MESSAGES: 4011,
} as const;

/** Docker's rule for container names ([a-zA-Z0-9][a-zA-Z0-9_.-]*), bounded; ids (64 hex digits) fit it too. */
export const CONTAINER_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Where a `tools: "host"` container shell finds the container's files: a link to /proc/1/root of its PID ns. */
export const HOST_TOOLS_ROOT = '/mnt/container';
