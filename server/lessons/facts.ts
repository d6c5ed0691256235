// The live Facts for checks: the namespace list and mount tables as the engine last pushed them, and — read when
// a check asks, synchronously (procfs answers from kernel memory) — the panes' foreground processes, their
// namespaces and stats through /proc/PID/root. Nothing here executes anything.
// "Outside" is where the lesson runs (Outside): on a host the server's own namespaces, read as the server; with
// --sandbox the user's sandbox's init's, read through /proc/INIT (never the host's files or mount table).
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import type { Mount, Namespace, NsType } from '../../shared/api.js';
import type { LessonPane } from '../../shared/lessons.js';
import { parseMountinfo } from '../mounts/mountinfo.js';
import { nsIdOfLink as nsIdFromLink } from '../proc/ns-links.js';
import { readWhere } from '../terminals/where.js';
import type { Facts } from './checks.js';

/** What the runner needs of the terminal registry: a session's leader PID while it runs. */
export interface PaneSessions {
  leaderPid(sessionId: string): number | null;
}

export function nsOfPid(pid: number, type: NsType): string | null {
  try {
    return nsIdFromLink(readlinkSync(`/proc/${pid}/ns/${type}`));
  } catch {
    return null; // Swallow: the process is gone (or not ours to look at); the check says it cannot be read.
  }
}

export function statKind(pid: number | null, path: string): 'file' | 'directory' | 'other' | null {
  try {
    const st = statSync(pid === null ? path : `/proc/${pid}/root${path}`);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
  } catch {
    return null; // Swallow: ENOENT is the answer "does not exist"; EACCES/ESRCH mean the same to a learner.
  }
}

/**
 * Where "outside" is: its namespace of each type, and the process its files and mount table are read through
 * ('self': the server itself; null: not there now, e.g. a sandbox being made again).
 */
export interface OutsideView {
  self(type: NsType): string | null;
  pid(): number | 'self' | null;
  /** words for a pending step when there is no outside now */
  missing(type: NsType): string;
}

/** The host's outside: the server's own namespaces. */
export function serverOutside(selfId: (type: NsType) => string): OutsideView {
  return {
    self(type) {
      try {
        return selfId(type);
      } catch {
        return null; // Swallow: the kernel lacks this namespace type; checks on it say so.
      }
    },
    pid: () => 'self',
    missing: (type) => `this kernel has no ${type} namespaces`,
  };
}

export class LiveFacts implements Facts {
  namespaces: readonly Namespace[] = [];
  /** the engine's last push per mount namespace */
  readonly tables = new Map<string, readonly Mount[]>();
  private readonly fresh = new Map<string, readonly Mount[]>();
  panes: Partial<Record<LessonPane, string>> = {};

  constructor(
    private readonly sessions: PaneSessions,
    private readonly outside: OutsideView,
  ) {}

  selfId(type: NsType): string | null {
    return this.outside.self(type);
  }

  outsideMissing(type: NsType): string {
    return this.outside.missing(type);
  }

  paneForeground(pane: LessonPane): { pid: number; command: string } | null {
    const id = this.panes[pane];
    const leader = id === undefined ? null : this.sessions.leaderPid(id);
    if (leader === null) return null;
    const where = readWhere(leader);
    return where ? { pid: where.pid, command: where.command } : null;
  }

  nsOfPid(pid: number, type: NsType): string | null {
    return nsOfPid(pid, type);
  }

  /**
   * Read fresh through a process in the namespace when there is one (propagation changes come with no kernel
   * event, so the engine's copy can be older than what the learner just did); else the engine's last table.
   */
  mounts(mntId: string): readonly Mount[] | null {
    const cached = this.fresh.get(mntId);
    if (cached) return cached;
    const pids: (number | 'self')[] = [];
    const outside = this.outside.pid();
    if (outside !== null && mntId === this.outside.self('mnt')) pids.push(outside);
    for (const pane of ['outside', 'inside'] as const) {
      const fg = this.paneForeground(pane);
      if (fg) pids.push(fg.pid);
    }
    for (const ns of this.namespaces) if (ns.id === mntId && ns.pid !== null) pids.push(ns.pid);
    for (const pid of pids) {
      if (pid !== 'self' && nsOfPid(pid, 'mnt') !== mntId) continue;
      try {
        const table = parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
        this.fresh.set(mntId, table);
        return table;
      } catch {
        // Swallow: the process exited between the two reads; try the next one, then the engine's copy.
      }
    }
    return this.tables.get(mntId) ?? null;
  }

  /** Forget the tables read for the previous evaluation. */
  beginEvaluation(): void {
    this.fresh.clear();
  }

  /** pid null: as outside sees it (the server, or the sandbox's init); nothing when there is no outside now */
  stat(pid: number | null, path: string): 'file' | 'directory' | 'other' | null {
    if (pid !== null) return statKind(pid, path);
    const outside = this.outside.pid();
    return outside === null ? null : statKind(outside === 'self' ? null : outside, path);
  }

  /** The mount namespaces whose tables the checks may ask for: the server's, both panes', the workspace's. */
  wantedTables(workspace: string): string[] {
    const ids = new Set<string>();
    const self = this.outside.self('mnt');
    if (self) ids.add(self);
    for (const pane of ['outside', 'inside'] as const) {
      const fg = this.paneForeground(pane);
      const id = fg ? nsOfPid(fg.pid, 'mnt') : null;
      if (id) ids.add(id);
    }
    for (const ns of this.namespaces) {
      if (ns.type === 'mnt' && ns.nsfs.some((p) => p === workspace || p.startsWith(workspace + '/'))) ids.add(ns.id);
    }
    return [...ids].sort();
  }
}
