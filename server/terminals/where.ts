// "Where is this shell now?": the mount namespace of the terminal's foreground process, so a pane header can
// follow the user into `unshare --mount` or `nsenter` and back out again.
import { readFile, readlink } from 'node:fs/promises';
import type { WhereInfo } from '../../shared/protocol.js';
import { parseProcStat } from './process-group.js';

/** `mnt:[4026533646]` (the nsfs link text) → `mnt:4026533646` (our namespace id). */
export function nsIdFromLink(link: string): string | null {
  const m = /^(\w+):\[(\d+)\]$/.exec(link);
  return m ? `${m[1]}:${m[2]}` : null;
}

async function describe(pid: number): Promise<WhereInfo | null> {
  try {
    const [comm, link] = await Promise.all([readFile(`/proc/${pid}/comm`, 'utf8'), readlink(`/proc/${pid}/ns/mnt`)]);
    return { pid, command: comm.trimEnd(), mnt: nsIdFromLink(link) };
  } catch {
    return null; // Swallow: the process ended while we looked; the caller falls back or tries next time.
  }
}

/**
 * The foreground process group of the terminal whose session leader is `leaderPid` (field 8 of its stat, the
 * same for every process on that terminal), described by its leader; the session leader itself when there is
 * no foreground group or it cannot be read. Null once the leader is gone.
 */
export async function readWhere(leaderPid: number): Promise<WhereInfo | null> {
  let stat;
  try {
    stat = parseProcStat(leaderPid, await readFile(`/proc/${leaderPid}/stat`, 'utf8'));
  } catch {
    return null; // Swallow: the shell has exited.
  }
  if (stat && stat.tpgid > 0 && stat.tpgid !== leaderPid) {
    const foreground = await describe(stat.tpgid);
    if (foreground) return foreground;
  }
  return describe(leaderPid);
}

export function sameWhere(a: WhereInfo | null, b: WhereInfo | null): boolean {
  return a === b || (a !== null && b !== null && a.pid === b.pid && a.command === b.command && a.mnt === b.mnt);
}
