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

/** A name for a namespace nsconsole creates: never `.` or `..`. */
export const NS_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

export const PROPAGATIONS = ['shared', 'private', 'slave', 'unbindable', 'slave,shared'] as const;
export type Propagation = (typeof PROPAGATIONS)[number];

/** Terminal sizes outside this range are rejected as absurd. */
export const MAX_COLS = 1000;
export const MAX_ROWS = 500;

/** WebSocket close codes the server uses (4000-4999 are application codes). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  TOO_BIG: 1009,
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
