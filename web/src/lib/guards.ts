// Validation at the boundary: every JSON value that comes off the network is checked here before the app
// uses it (never `JSON.parse(x) as T`). Hand-written guards keep zod out of the browser bundle.
import type { Mount, Namespace, NamespaceList, ScanProblem, SessionInfo, ShareLink, Target } from '../../../shared/api.js';
import { CONTAINER_REF_PATTERN, NS_ID_PATTERN, NS_TYPES, PROPAGATIONS } from '../../../shared/constants.js';
import type { ServerMessage, WhereInfo } from '../../../shared/protocol.js';
import type { EventsServerMessage } from '../../../shared/events.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isIntOrNull = (v: unknown): v is number | null => v === null || isInt(v);
const isStrOrNull = (v: unknown): v is string | null => v === null || isStr(v);
const isOptInt = (v: unknown): boolean => v === undefined || isInt(v);

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isNamespace(v: unknown): v is Namespace {
  return (
    isObj(v) &&
    isStr(v.id) &&
    NS_ID_PATTERN.test(v.id) &&
    (NS_TYPES as readonly unknown[]).includes(v.type) &&
    isInt(v.inode) &&
    isInt(v.nprocs) &&
    isIntOrNull(v.pid) &&
    isStrOrNull(v.user) &&
    isStrOrNull(v.command) &&
    Array.isArray(v.nsfs) &&
    v.nsfs.every(isStr) &&
    typeof v.self === 'boolean' &&
    (v.error === undefined || isStr(v.error)) &&
    (v.owner === undefined || v.owner === null || (isObj(v.owner) && typeof v.owner.uid === 'number' && isStr(v.owner.user) && isStr(v.owner.userns))) &&
    (v.untrusted === undefined || (isObj(v.untrusted) && isStr(v.untrusted.reason))) &&
    (v.containers === undefined || (Array.isArray(v.containers) && v.containers.every(isContainerRef)))
  );
}

const isContainerRef = (v: unknown): boolean => isObj(v) && isStr(v.id) && isStr(v.name) && isStr(v.runtime);

function isProblem(v: unknown): v is ScanProblem {
  return isObj(v) && isInt(v.pid) && isStr(v.reason);
}

export function isNamespaceList(v: unknown): v is NamespaceList {
  return (
    isObj(v) &&
    Array.isArray(v.namespaces) &&
    v.namespaces.every(isNamespace) &&
    (v.problems === undefined || (Array.isArray(v.problems) && v.problems.every(isProblem)))
  );
}

export function isMount(v: unknown): v is Mount {
  return (
    isObj(v) &&
    isInt(v.id) &&
    isInt(v.parentId) &&
    isStr(v.target) &&
    isStr(v.source) &&
    isStr(v.fstype) &&
    isStr(v.options) &&
    isStr(v.superOptions) &&
    isStr(v.root) &&
    (PROPAGATIONS as readonly unknown[]).includes(v.propagation) &&
    isOptInt(v.peerGroup) &&
    isOptInt(v.masterGroup) &&
    isOptInt(v.propagateFrom)
  );
}

export const isMountArray = (v: unknown): v is Mount[] => Array.isArray(v) && v.every(isMount);

function isWhere(v: unknown): v is WhereInfo {
  return isObj(v) && isInt(v.pid) && isStr(v.command) && (v.mnt === null || (isStr(v.mnt) && NS_ID_PATTERN.test(v.mnt)));
}

/** A session target as the server reports it (or as this tab stored it). */
export function isTarget(v: unknown): v is Target {
  if (!isObj(v)) return false;
  switch (v.kind) {
    case 'host':
      return true;
    case 'namespace':
      return isStr(v.id) && NS_ID_PATTERN.test(v.id);
    case 'process':
      return isInt(v.pid) && v.pid > 0;
    case 'container':
      return isStr(v.id) && CONTAINER_REF_PATTERN.test(v.id) && (v.tools === undefined || v.tools === 'host');
    default:
      return false;
  }
}

const isExit = (v: unknown): boolean => v === null || (isObj(v) && isInt(v.code) && isIntOrNull(v.signal));

/** `GET /api/sessions/:id`; only the fields the browser relies on are checked. */
export function isSessionInfo(v: unknown): v is SessionInfo {
  return isObj(v) && isStr(v.id) && isTarget(v.target) && isInt(v.pid) && isInt(v.cols) && isInt(v.rows) && isExit(v.exited);
}

export function isShareLink(v: unknown): v is ShareLink {
  return isObj(v) && isStr(v.token) && isStr(v.url) && v.url.startsWith('/');
}

/** A text frame of the terminal stream, or null when it is not one we understand. */
export function parseServerMessage(text: string): ServerMessage | null {
  const v = parseJson(text);
  if (!isObj(v)) return null;
  switch (v.type) {
    case 'hello':
      return isStr(v.session) && isObj(v.target) && isInt(v.pid) && isInt(v.cols) && isInt(v.rows) ? (v as ServerMessage) : null;
    case 'exit':
      return isInt(v.code) || v.code === null ? { type: 'exit', code: isInt(v.code) ? v.code : -1, signal: isInt(v.signal) ? v.signal : null } : null;
    case 'error':
      return isStr(v.code) && isStr(v.message) ? (v as ServerMessage) : null;
    case 'where':
      return isWhere(v.where) ? { type: 'where', where: v.where } : null;
    case 'resized':
      return isInt(v.cols) && isInt(v.rows) ? { type: 'resized', cols: v.cols, rows: v.rows } : null;
    default:
      return null;
  }
}

/** A frame of the live event stream, or null. */
export function parseEventsMessage(text: string): EventsServerMessage | null {
  const v = parseJson(text);
  if (!isObj(v)) return null;
  switch (v.type) {
    case 'namespaces':
      return isNamespaceList(v) ? { type: 'namespaces', namespaces: v.namespaces, ...(v.problems ? { problems: v.problems } : {}) } : null;
    case 'mounts':
      return isStr(v.id) && isMountArray(v.mounts) ? { type: 'mounts', id: v.id, mounts: v.mounts } : null;
    case 'gone':
      return isStr(v.id) ? { type: 'gone', id: v.id } : null;
    case 'error':
      return isStr(v.code) && isStr(v.message) ? { type: 'error', code: v.code, message: v.message } : null;
    default:
      return null;
  }
}

export function errorBodyOf(v: unknown): { code: string; message: string } | null {
  if (isObj(v) && isObj(v.error) && isStr(v.error.code) && isStr(v.error.message)) return { code: v.error.code, message: v.error.message };
  return null;
}

export { isObj, isStr, isInt };
