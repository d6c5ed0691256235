// Namespace links: /proc/PID/ns/<type> is a magic link whose text names the namespace, `mnt:[4026531841]`
// (type, then the nsfs inode in brackets). nsconsole names the same namespace `mnt:4026531841` (shared/ nsId).
import { readlinkSync } from 'node:fs';
import { nsId, type NsType } from '../../shared/constants.js';

const NS_LINK = /^([a-z_]+):\[([0-9]+)\]$/;

/**
 * `mnt:[4026531841]` → type and inode; null for anything else. The type is the link's name, which may be a
 * `pid_for_children`/`time_for_children` link (and the root of an nsfs bind mount has the same text).
 */
export function parseNsLink(link: string): { type: string; inode: string } | null {
  const m = NS_LINK.exec(link);
  return m ? { type: m[1] as string, inode: m[2] as string } : null;
}

/** The link text of a namespace id: `mnt:4026531841` → `mnt:[4026531841]`. */
export function nsLinkText(id: string): string {
  const colon = id.indexOf(':');
  return `${id.slice(0, colon)}:[${id.slice(colon + 1)}]`;
}

/** `mnt:[4026531841]` → `mnt:4026531841` (the namespace id); null when the text is not a namespace link. */
export function nsIdOfLink(link: string): string | null {
  const parsed = parseNsLink(link);
  return parsed ? `${parsed.type}:${parsed.inode}` : null;
}

/** The inode a namespace link names, or null when the process is gone, unreadable or the link is not one. */
export function readNsLinkInode(pid: number | 'self', link: string): string | null {
  try {
    return parseNsLink(readlinkSync(`/proc/${pid}/ns/${link}`))?.inode ?? null;
  } catch {
    // Swallow: ENOENT (exited, or a type this kernel lacks) and EACCES (not ours to read) both mean "no answer".
    return null;
  }
}

/** The namespace id of `type` that `pid` is in now, or null when the process is gone or unreadable. */
export function readNsLink(pid: number | 'self', type: NsType): string | null {
  const inode = readNsLinkInode(pid, type);
  return inode === null ? null : nsId(type, inode);
}
