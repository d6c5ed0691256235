// All terminal sessions of this server: creation (with its limits), lookup, share tokens and teardown.
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { CreateSessionSchema, SessionInfo, Target } from '../../shared/api.js';
import type { Config } from '../config/config.js';
import { DEFAULT_MAX_SESSIONS_PER_USER } from '../config/limits.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { TOKEN_USER } from '../identity/identity.js';
import type { LaunchSpec } from './launch.js';
import { TokenBucket } from '../limits/token-bucket.js';
import { MirrorHost } from './mirror/mirror-host.js';
import { SNAPSHOT_BOUNDARY_WAIT_MS } from './mirror/screen-mirror.js';
import { TerminalSession } from './session.js';
import { ReadTurns } from './read-turns.js';

export type ValidCreateSessionRequest = z.output<typeof CreateSessionSchema>;

/**
 * Session creation is a token bucket: a burst of this many (two panes, a few reloads, a test's setup), then
 * this many per second. Each session is a process tree, so a runaway client must not fork the box to death.
 */
export const DEFAULT_CREATE_RATE = { burst: 20, perSecond: 5 };
/** disposeAll() gives up waiting after this long (a process in uninterruptible sleep ignores even SIGKILL). */
export const DISPOSE_ALL_DEADLINE_MS = 4000;

export interface TerminalRegistryDeps {
  config: Config;
  log: Logger;
  /** `owner`: who creates the session (--sandbox launches in that owner's sandbox; the host launcher ignores it) */
  launch: (target: Target, owner: string) => Promise<LaunchSpec>;
  createRate?: { burst: number; perSecond: number };
  /** metrics: every session's pty bytes (see SessionOptions.onBytes) */
  onPtyBytes?(direction: 'in' | 'out', bytes: number): void;
  /** a session ended without a DELETE: its shell exited, or a live shell's grace period ran out (audit log) */
  onEnded?(sessionId: string, reason: 'exit' | 'idle', exited: { code: number; signal: number | null } | null): void;
}

export interface TerminalRegistry {
  /** `owner` defaults to the token holder */
  create(req: ValidCreateSessionRequest, owner?: string): Promise<TerminalSession>;
  get(id: string): TerminalSession | undefined;
  list(): SessionInfo[];
  /** ends the session's processes (SIGHUP → SIGTERM → SIGKILL); SESSION_NOT_FOUND for an unknown id */
  remove(id: string): Promise<void>;
  /** a read-only share token scoped to this one session (the same one on every call), random; SESSION_EXITED once its shell has exited */
  viewerToken(id: string): string;
  sessionIdForViewerToken(token: string): string | undefined;
  /** the session id of a share token whose shell has exited (recently: the last ENDED_TOKENS_KEPT are remembered) */
  sessionIdForEndedViewerToken(token: string): string | undefined;
  /** ends every session; resolves once all processes are gone, or after DISPOSE_ALL_DEADLINE_MS */
  disposeAll(): Promise<void>;
}

/**
 * Share tokens of ended shells remembered, so that an old link answers "the shell exited" rather than "wrong
 * token". Bounded: a token is 43 characters, so this is ~100 KB at most.
 */
export const ENDED_TOKENS_KEPT = 1024;

/** Unguessable and never sequential: a session id is part of the URL a viewer link carries. */
const randomId = (bytes: number) => randomBytes(bytes).toString('base64url');

export function createTerminalRegistry(deps: TerminalRegistryDeps): TerminalRegistry {
  const sessions = new Map<string, TerminalSession>();
  const viewerTokens = new Map<string, string>(); // token → session id
  const tokenOfSession = new Map<string, string>();
  const endedTokens = new Map<string, string>(); // token → session id, oldest first
  const bucket = new TokenBucket(deps.createRate ?? DEFAULT_CREATE_RATE);
  // Started lazily with the first session; disposeAll terminates it.
  const mirrorHost = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
  const readTurns = new ReadTurns();
  let launching = 0;
  /** each user's sessions, launches in flight included (the token holder's too, though it has no per-user cap) */
  const held = new Map<string, number>();
  const ownerOf = new Map<string, string>(); // session id → owner
  const release = (owner: string): void => {
    const n = (held.get(owner) ?? 1) - 1;
    if (n > 0) held.set(owner, n);
    else held.delete(owner);
  };

  /** The share link dies with the shell: its token stops opening anything (and is remembered as ended). */
  const revokeViewerToken = (id: string): void => {
    const token = tokenOfSession.get(id);
    if (token === undefined) return;
    viewerTokens.delete(token);
    tokenOfSession.delete(id);
    endedTokens.set(token, id);
    for (const oldest of endedTokens.keys()) {
      if (endedTokens.size <= ENDED_TOKENS_KEPT) break;
      endedTokens.delete(oldest);
    }
  };

  const forget = (id: string): TerminalSession | undefined => {
    const session = sessions.get(id);
    sessions.delete(id);
    revokeViewerToken(id);
    const owner = ownerOf.get(id);
    if (owner !== undefined) {
      ownerOf.delete(id);
      release(owner);
    }
    return session;
  };

  const remove = async (id: string): Promise<void> => {
    const session = forget(id);
    if (!session) throw new AppError('SESSION_NOT_FOUND', `no session ${id}`);
    await session.terminate();
  };

  return {
    async create(req, owner = TOKEN_USER) {
      const { maxSessions, maxSessionsPerUser = DEFAULT_MAX_SESSIONS_PER_USER } = deps.config;
      // Launches in flight count too: two concurrent requests must not both take the last slot. The user's own
      // cap is checked first: "close one of yours" is what that user can act on. The token holder is exempt from
      // it (config/limits.ts), never from the global cap.
      const mine = held.get(owner) ?? 0;
      if (owner !== TOKEN_USER && mine >= maxSessionsPerUser)
        throw new AppError(
          'TOO_MANY_USER_SESSIONS',
          `${owner} has ${mine} sessions: at most ${maxSessionsPerUser} per user (--max-sessions-per-user); close one first`,
        );
      if (sessions.size + launching >= maxSessions)
        throw new AppError(
          'TOO_MANY_SESSIONS',
          `at most ${maxSessions} sessions at once (--max-sessions); close one first`,
        );
      if (!bucket.take())
        throw new AppError('RATE_LIMITED', 'sessions are being created too fast; try again in a moment');
      launching++;
      held.set(owner, mine + 1);
      let spec: LaunchSpec;
      let session: TerminalSession;
      try {
        spec = await deps.launch(req.target, owner);
      } catch (err) {
        release(owner);
        throw err;
      } finally {
        launching--;
      }
      const id = randomId(16);
      try {
        session = new TerminalSession({
          id,
          target: req.target,
          spec,
          cols: req.cols,
          rows: req.rows,
          config: deps.config,
          log: deps.log,
          mirrorHost,
          readTurns,
          onBytes: deps.onPtyBytes,
          onIdle: (idle) => {
            if (sessions.get(idle.id) !== idle) return;
            if (!idle.hasExited) deps.onEnded?.(idle.id, 'idle', null);
            remove(idle.id).catch((err: unknown) =>
              deps.log.error({ err, session: idle.id }, 'ending an idle session failed'),
            );
          },
          onExit: (exited) => {
            if (sessions.get(exited.id) !== exited) return; // ended by remove(): whoever removed it says so
            revokeViewerToken(exited.id);
            deps.onEnded?.(exited.id, 'exit', exited.info().exited);
          },
        });
      } catch (err) {
        release(owner); // the pty never started: the slot was never used
        throw err;
      }
      sessions.set(id, session);
      ownerOf.set(id, owner);
      return session;
    },
    get: (id) => sessions.get(id),
    list: () => [...sessions.values()].map((s) => s.info()),
    remove,
    viewerToken(id) {
      const session = sessions.get(id);
      if (!session) throw new AppError('SESSION_NOT_FOUND', `no session ${id}`);
      if (session.hasExited)
        throw new AppError('SESSION_EXITED', `the shell of session ${id} has exited: there is nothing left to share`);
      let token = tokenOfSession.get(id);
      if (token === undefined) {
        token = randomId(32);
        tokenOfSession.set(id, token);
        viewerTokens.set(token, id);
      }
      return token;
    },
    sessionIdForViewerToken: (token) => viewerTokens.get(token),
    sessionIdForEndedViewerToken: (token) => endedTokens.get(token),
    async disposeAll() {
      const all = [...sessions.keys()].map((id) => forget(id)).filter((s): s is TerminalSession => s !== undefined);
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(all.map((s) => s.terminate())),
        new Promise<void>((resolve) => (deadline = setTimeout(resolve, DISPOSE_ALL_DEADLINE_MS))),
      ]);
      clearTimeout(deadline);
      for (const s of all) s.dispose(); // no-op for those that ended; drops our handles on the rest
      mirrorHost.dispose();
      readTurns.dispose();
    },
  };
}
