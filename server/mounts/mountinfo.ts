// /proc/PID/mountinfo → Mount[]. Format (proc(5)):
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)  (4)   (5)         (6)        (7)      (8)(9)   (10)      (11)
// (7) is zero or more optional fields ended by a lone "-". The kernel escapes space, tab, newline and backslash
// in root, mount point, fstype and source as \040 \011 \012 \134, so splitting on single spaces is safe and an
// empty source shows up as an empty field (two spaces), which split(' ') keeps.
import { unescapeMountinfo } from '../proc/mangle.js';
import { parseNsLink } from '../proc/ns-links.js';
import {
  MOUNTS_MAX_JSON_BYTES,
  MOUNTS_PAGE_MAX_ROWS,
  type Mount,
  type Propagation,
  type TableTruncation,
} from '../../shared/api.js';

export class MountinfoParseError extends Error {
  override name = 'MountinfoParseError';
}

interface OptionalFields {
  propagation: Propagation;
  peerGroup?: number;
  masterGroup?: number;
  propagateFrom?: number;
}

/** shared:N, master:N, propagate_from:N, unbindable → the contract's propagation word and groups. */
export function parseOptionalFields(fields: readonly string[]): OptionalFields {
  let peerGroup: number | undefined;
  let masterGroup: number | undefined;
  let propagateFrom: number | undefined;
  let unbindable = false;
  for (const f of fields) {
    const colon = f.indexOf(':');
    const tag = colon < 0 ? f : f.slice(0, colon);
    const value = colon < 0 ? NaN : Number(f.slice(colon + 1));
    if (tag === 'shared') peerGroup = value;
    else if (tag === 'master') masterGroup = value;
    else if (tag === 'propagate_from') propagateFrom = value;
    else if (tag === 'unbindable') unbindable = true;
    // Unknown tags are allowed by proc(5) ("new fields may be added"): ignore them.
  }
  let propagation: Propagation;
  if (peerGroup !== undefined && masterGroup !== undefined) propagation = 'slave,shared';
  else if (peerGroup !== undefined) propagation = 'shared';
  else if (masterGroup !== undefined) propagation = 'slave';
  else if (unbindable) propagation = 'unbindable';
  else propagation = 'private';
  const out: OptionalFields = { propagation };
  if (peerGroup !== undefined) out.peerGroup = peerGroup;
  if (masterGroup !== undefined) out.masterGroup = masterGroup;
  if (propagateFrom !== undefined) out.propagateFrom = propagateFrom;
  return out;
}

/** One mountinfo line → Mount. Throws MountinfoParseError on a line that is not mountinfo. */
export function parseMountinfoLine(line: string): Mount {
  const f = line.split(' ');
  const sep = f.indexOf('-', 6);
  if (f.length < 10 || sep < 0 || f.length < sep + 3)
    throw new MountinfoParseError(`not a mountinfo line: ${JSON.stringify(line.slice(0, 200))}`);
  const id = Number(f[0]);
  const parentId = Number(f[1]);
  if (!Number.isInteger(id) || !Number.isInteger(parentId))
    throw new MountinfoParseError(`bad mount ids in line: ${JSON.stringify(line.slice(0, 200))}`);
  const mount: Mount = {
    id,
    parentId,
    target: unescapeMountinfo(f[4] as string),
    source: unescapeMountinfo(f[sep + 2] as string),
    fstype: unescapeMountinfo(f[sep + 1] as string),
    options: f[5] as string,
    // Super options are the rest of the line; join in case a (future) field held spaces we did not expect.
    superOptions: unescapeMountinfo(f.slice(sep + 3).join(' ')),
    root: unescapeMountinfo(f[3] as string),
    ...parseOptionalFields(f.slice(6, sep)),
  };
  return mount;
}

/** The whole file. Blank lines (the trailing newline) are skipped. */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    if (line.length > 0) mounts.push(parseMountinfoLine(line));
  }
  return mounts;
}

/** nsfs bind mounts have root like `mnt:[4026532177]`; returns the namespace id `mnt:4026532177` or null. */
export function nsfsTargetId(mount: Pick<Mount, 'fstype' | 'root'>): string | null {
  if (mount.fstype !== 'nsfs') return null;
  const link = parseNsLink(mount.root);
  if (!link) return null;
  // pid_for_children / time_for_children bind the same namespaces as pid / time.
  return `${link.type.replace(/_for_children$/, '')}:${link.inode}`;
}

/** Only the nsfs lines of a mountinfo text: cheaper than a full parse when a table has thousands of mounts. */
export function parseNsfsMounts(text: string): Mount[] {
  if (!text.includes(' - nsfs ')) return [];
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    if (line.includes(' - nsfs ')) out.push(parseMountinfoLine(line));
  }
  return out;
}

export interface MountPage {
  mounts: Mount[];
  /** absent when `mounts` is the whole table */
  truncated?: TableTruncation;
}

/**
 * Rows `offset`… of a table, at most `limit` rows and MOUNTS_MAX_JSON_BYTES of JSON (measured row by row, so
 * a table of hostile names full of characters JSON escapes is held to the same size); only the rows sent are
 * parsed. `cut`: the read itself stopped early (see TableTruncation.read).
 */
export function mountPage(
  text: string,
  cut: 'bytes' | 'time' | undefined,
  offset = 0,
  limit = MOUNTS_PAGE_MAX_ROWS,
): MountPage {
  return JSON.parse(`{${mountPageJson(text, cut, offset, limit).body}}`) as MountPage;
}

/** A page as JSON text, ready to send; see mountPageJson. */
export interface MountPageJson {
  /** `"mounts":[…]` and, when the page is not the whole table, `,"truncated":{…}` — no braces, so a caller adds its own fields */
  body: string;
  /** some row sent is shared or slave: the table can change by propagation, which no mount event reports */
  propagating: boolean;
  rows: number;
}

/**
 * mountPage's page, serialized: each row is stringified once, both to measure the page and to build the text.
 * Runs on the scan worker (the `page` job), so a big table that changes all the time costs the main thread
 * only the send (issue #16: parsing and stringifying 5k rows twice a second on the main thread put keystroke
 * echo p99 at 45 ms).
 */
export function mountPageJson(
  text: string,
  cut: 'bytes' | 'time' | undefined,
  offset = 0,
  limit = MOUNTS_PAGE_MAX_ROWS,
): MountPageJson {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const total = lines.length;
  const rows: string[] = [];
  let propagating = false;
  let bytes = 2; // []
  const end = Math.min(total, offset + Math.min(limit, MOUNTS_PAGE_MAX_ROWS));
  for (let i = offset; i < end; i++) {
    const m = parseMountinfoLine(lines[i] as string);
    const row = JSON.stringify(m);
    bytes += Buffer.byteLength(row) + 1;
    if (bytes > MOUNTS_MAX_JSON_BYTES && rows.length > 0) break;
    rows.push(row);
    if (m.propagation !== 'private' && m.propagation !== 'unbindable') propagating = true;
  }
  let body = `"mounts":[${rows.join(',')}]`;
  if (cut || offset !== 0 || rows.length !== total) {
    const truncated: TableTruncation = { total, offset, shown: rows.length };
    if (cut) truncated.read = cut;
    body += `,"truncated":${JSON.stringify(truncated)}`;
  }
  return { body, propagating, rows: rows.length };
}
