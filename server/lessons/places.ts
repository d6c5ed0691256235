// Where a caller's lessons run and are checked. On a host: one place for every caller, the server's own
// namespaces (one run per lesson, as before sandboxes). With --sandbox: each user's own sandbox (the owner of
// sandbox/owners.ts: the labs identity, or the token holder) — its scoped namespace view, its init's namespaces
// and files as "outside", only that user's terminal sessions as panes, and Reset acting inside it.
import type { NamespaceEngine } from '../namespaces/engine.js';
import type { SandboxManager } from '../sandbox/manager.js';
import { serverOutside, type OutsideView } from './facts.js';
import type { ResetPlace } from './reset.js';
import { sandboxResetPlace } from './sandbox-reset.js';

export interface LessonPlace {
  engine: NamespaceEngine;
  outside: OutsideView;
  /** may this terminal session be one of the lesson's panes? (another user's counts as no pane at all) */
  ownsSession(sessionId: string): boolean;
  /** where Reset acts: undefined for the server's own mount namespace (reset.ts HOST), else the sandbox */
  resetPlace(): Promise<ResetPlace | undefined>;
}

/** What the lessons need of --sandbox; nsconsole.ts wires it from the manager, the owner views and ownership. */
export interface LessonSandboxes {
  manager: Pick<SandboxManager, 'get' | 'peek' | 'owners' | 'onDropped'>;
  /** the namespace engine scoped to the owner's sandbox (sandbox/owners.ts viewsFor) */
  engineFor(owner: string): NamespaceEngine;
  /** who owns a terminal session (identity/ownership.ts) */
  sessionOwner(sessionId: string): string;
}

export function hostPlace(engine: NamespaceEngine): LessonPlace {
  return {
    engine,
    outside: serverOutside((type) => engine.selfId(type)),
    ownsSession: () => true,
    resetPlace: () => Promise.resolve(undefined),
  };
}

/**
 * `owner`'s sandbox. Read through the manager each time, never held: after a reset or an idle expiry the same
 * place is the new sandbox. "Outside" is the sandbox's init (its namespaces, /proc/INIT/root, /proc/INIT/mountinfo);
 * while the owner has no live sandbox there is no outside, and nothing is created just to evaluate a check.
 */
export function sandboxPlace(sandboxes: LessonSandboxes, owner: string): LessonPlace {
  const { manager } = sandboxes;
  return {
    engine: sandboxes.engineFor(owner),
    outside: {
      self: (type) => manager.peek(owner)?.nsIds.get(type) ?? null,
      pid: () => manager.peek(owner)?.initPid ?? null,
      missing: () => 'your sandbox is not running now (a terminal or the Namespaces view starts it)',
    },
    ownsSession: (id) => sandboxes.sessionOwner(id) === owner,
    resetPlace: async () => sandboxResetPlace(await manager.get(owner)),
  };
}
