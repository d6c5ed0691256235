// Sandboxes by owner: one per owner id (the caller's user name, see owners.ts; the token holder is TOKEN_USER),
// created on first use, recreated after a reset or when its init died, destroyed after --sandbox-idle without a
// session, and all destroyed at shutdown.
import { randomBytes } from 'node:crypto';
import type { SandboxConfig } from '../config/config.js';
import { SANDBOX_UID_COUNT } from '../config/config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { readProcStat } from '../proc/pids.js';
import { describeCgroups, removeDeadServersCgroups } from './cgroups.js';
import { Sandbox, type SandboxLimits } from './sandbox.js';

export interface SandboxInfo {
  id: string;
  hostname: string;
  /** the host uid (and gid) that root inside the sandbox is */
  uidBase: number;
  limits: SandboxLimits;
}

export interface SandboxManager {
  /** the owner's sandbox, created (or recreated) as needed; AppError when it cannot be */
  get(owner: string): Promise<Sandbox>;
  info(owner: string): Promise<SandboxInfo>;
  /** destroys the owner's sandbox (every process, mount and file of it) and creates a new one */
  reset(owner: string): Promise<SandboxInfo>;
  /** a session's shell started in the owner's sandbox: it keeps the sandbox from going idle while it runs */
  sessionStarted(owner: string, pid: number): void;
  /**
   * An open live view of the owner's sandbox (a /ws/events client, a followed lesson: the page is open) keeps
   * it from going idle, as a session does, and keeps what is kept per sandbox (lesson progress) with it. Call
   * the returned function when the view closes; the idle time then counts from the last view or session.
   */
  holdOpen(owner: string): () => void;
  /** sandboxes alive now, by owner */
  owners(): string[];
  /** the owner's sandbox if there is a live one now; never creates one */
  peek(owner: string): Sandbox | null;
  /**
   * `fn(owner)` each time an owner's sandbox goes (idle, reset, its init died, shutdown), before it is destroyed:
   * what others keep per owner (lesson runs) follows the sandbox's lifetime. Returns the unsubscribe.
   */
  onDropped(fn: (owner: string) => void): () => void;
  dispose(): Promise<void>;
}

/** How often idle sandboxes are looked for, at most; shorter for a short --sandbox-idle (tests). */
const IDLE_CHECK_MAX_MS = 1000;
const IDLE_CHECK_MIN_MS = 20;

interface Entry {
  sandbox: Sandbox;
  slot: number;
  sessions: Map<number, number>; // pid → start time
  idleSince: number | null;
}

export function createSandboxManager(config: SandboxConfig, log: Logger): SandboxManager {
  const entries = new Map<string, Entry>();
  /** open live views per owner (holdOpen), whether or not the owner's sandbox exists right now */
  const views = new Map<string, number>();
  const creating = new Map<string, Promise<Sandbox>>();
  const slots = Math.floor(config.uidCount / SANDBOX_UID_COUNT);
  const usedSlots = new Set<number>();
  const checkMs = Math.max(IDLE_CHECK_MIN_MS, Math.min(IDLE_CHECK_MAX_MS, config.idleMs / 4));
  let timer: NodeJS.Timeout | null = null;
  let disposed = false;
  const droppedListeners = new Set<(owner: string) => void>();
  const stale = removeDeadServersCgroups();
  if (stale.length > 0) log.warn({ cgroups: stale }, 'removed the cgroups of sandboxes whose server was killed');
  log.info(
    { cgroups: describeCgroups(), uids: `${config.uidStart}:${config.uidCount}`, sandboxes: slots },
    "sandbox mode: every session runs in its owner's sandbox",
  );

  const drop = async (owner: string, entry: Entry) => {
    if (entries.get(owner) === entry) entries.delete(owner);
    for (const fn of droppedListeners) {
      try {
        fn(owner);
      } catch (err) {
        // Swallow into the log: a listener's failure must not keep the sandbox (and its uid range) alive.
        log.error({ err, owner }, 'a sandbox-dropped listener failed');
      }
    }
    try {
      await entry.sandbox.destroy();
    } finally {
      usedSlots.delete(entry.slot);
    }
  };

  const checkIdle = () => {
    const now = Date.now();
    for (const [owner, entry] of entries) {
      for (const [pid, start] of entry.sessions) {
        const stat = readProcStat(pid);
        if (!stat || stat.state === 'Z' || stat.startTime !== start) entry.sessions.delete(pid);
      }
      if (entry.sessions.size > 0 || (views.get(owner) ?? 0) > 0) {
        entry.idleSince = null;
        continue;
      }
      entry.idleSince ??= now;
      if (now - entry.idleSince >= config.idleMs) {
        log.info({ sandbox: entry.sandbox.id, owner }, 'sandbox idle: destroyed');
        drop(owner, entry).catch((err: unknown) =>
          log.error({ err, sandbox: entry.sandbox.id }, 'destroying an idle sandbox failed'),
        );
      }
    }
    if (entries.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };

  const create = async (owner: string): Promise<Sandbox> => {
    let slot = -1;
    for (let i = 0; i < slots; i++) {
      if (!usedSlots.has(i)) {
        slot = i;
        break;
      }
    }
    if (slot < 0)
      throw new AppError(
        'TOO_MANY_SESSIONS',
        `no free uid range for another sandbox: all ${slots} ranges of --sandbox-uids ${config.uidStart}:${config.uidCount} are in use (each takes ${SANDBOX_UID_COUNT}); give a larger COUNT`,
      );
    usedSlots.add(slot);
    try {
      const sandbox = await Sandbox.create({
        id: randomBytes(4).toString('hex'),
        uidBase: config.uidStart + slot * SANDBOX_UID_COUNT,
        uidCount: SANDBOX_UID_COUNT,
        limits: { pidsMax: config.pidsMax, memoryBytes: config.memoryBytes, diskBytes: config.diskBytes },
      });
      if (disposed) {
        await sandbox.destroy();
        throw new AppError('TARGET_CHANGED', 'the server is shutting down');
      }
      entries.set(owner, { sandbox, slot, sessions: new Map(), idleSince: null });
      timer ??= setInterval(checkIdle, checkMs).unref();
      log.info({ sandbox: sandbox.id, owner, uidBase: sandbox.uidBase, limits: sandbox.limits }, 'sandbox created');
      return sandbox;
    } catch (err) {
      usedSlots.delete(slot);
      throw err;
    }
  };

  const get = async (owner: string): Promise<Sandbox> => {
    if (disposed) throw new AppError('TARGET_CHANGED', 'the server is shutting down');
    const entry = entries.get(owner);
    if (entry?.sandbox.alive()) return entry.sandbox;
    if (entry) await drop(owner, entry); // its init died (OOM killer): start over
    let pending = creating.get(owner);
    if (!pending) {
      pending = create(owner).finally(() => creating.delete(owner));
      creating.set(owner, pending);
    }
    return pending;
  };

  const info = (sb: Sandbox): SandboxInfo => ({
    id: sb.id,
    hostname: sb.hostname,
    uidBase: sb.uidBase,
    limits: sb.limits,
  });

  return {
    get,
    info: async (owner) => info(await get(owner)),
    async reset(owner) {
      await creating.get(owner)?.catch(() => undefined); // Swallow: a failed creation leaves nothing to reset
      const entry = entries.get(owner);
      if (entry) await drop(owner, entry);
      return info(await get(owner));
    },
    sessionStarted(owner, pid) {
      const entry = entries.get(owner);
      const start = readProcStat(pid)?.startTime;
      if (!entry || start === undefined) return;
      entry.sessions.set(pid, start);
      entry.idleSince = null;
    },
    holdOpen(owner) {
      views.set(owner, (views.get(owner) ?? 0) + 1);
      let open = true;
      return () => {
        if (!open) return;
        open = false;
        const left = (views.get(owner) ?? 1) - 1;
        if (left > 0) views.set(owner, left);
        else views.delete(owner);
      };
    },
    owners: () => [...entries.keys()],
    peek(owner) {
      const entry = entries.get(owner);
      return entry?.sandbox.alive() ? entry.sandbox : null;
    },
    onDropped(fn) {
      droppedListeners.add(fn);
      return () => droppedListeners.delete(fn);
    },
    async dispose() {
      disposed = true;
      if (timer) clearInterval(timer);
      timer = null;
      await Promise.all([...creating.values()].map((p) => p.catch(() => undefined))); // Swallow: only waiting for it to settle
      await Promise.all([...entries].map(([owner, entry]) => drop(owner, entry)));
    },
  };
}
