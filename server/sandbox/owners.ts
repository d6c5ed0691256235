// Per-owner views for --sandbox: whose sandbox a request or socket is about, and the namespace engine scoped to
// that owner's sandbox (scope.ts), one per owner, cached. An owner caller's id is their user name (the token
// holder is TOKEN_USER); a share-link viewer's is the owner of the session it views (the app and the upgrade
// handler let viewers reach neither the namespace views nor /api/sandbox today; this keeps the rule if they do).
import type { IncomingMessage } from 'node:http';
import type { Caller } from '../http/auth.js';
import { TOKEN_USER } from '../identity/identity.js';
import type { Logger } from '../log.js';
import type { NamespaceEngine } from '../namespaces/engine.js';
import type { SandboxManager } from './manager.js';
import { SandboxActivity } from './live-list.js';
import { scopedEngine } from './scope.js';

/**
 * Scoped engines kept for owners whose sandbox is gone (idle, never created yet) before the cache is pruned.
 * A scoped engine holds two small sets; this only stops a stream of distinct user names from growing the map
 * without bound (live sandboxes are bounded by the uid range).
 */
const IDLE_VIEWS_KEPT = 64;

export interface OwnerViews {
  /** the engine scoped to `owner`'s sandbox (created on first use by the engine's calls, like a session would) */
  viewsFor(owner: string): NamespaceEngine;
}

export function createOwnerViews(host: NamespaceEngine, manager: SandboxManager, log: Logger): OwnerViews {
  const views = new Map<string, NamespaceEngine>();
  // Routes process events to the sandboxes whose lists are watched; listens only while one is.
  const activity = new SandboxActivity(host, log);
  const prune = () => {
    if (views.size < IDLE_VIEWS_KEPT) return;
    const alive = new Set(manager.owners());
    for (const owner of views.keys()) if (!alive.has(owner)) views.delete(owner);
  };
  return {
    viewsFor(owner) {
      let v = views.get(owner);
      if (!v) {
        prune();
        v = scopedEngine(
          host,
          () => manager.get(owner),
          activity,
          () => manager.holdOpen(owner),
        );
        views.set(owner, v);
      }
      return v;
    },
  };
}

/** Whose sandbox a caller's request is about (see the file comment); TOKEN_USER when there is no caller. */
export function ownerOfCaller(caller: Caller | null, sessionOwner: (sessionId: string) => string): string {
  if (!caller) return TOKEN_USER;
  return caller.role === 'owner' ? caller.user : sessionOwner(caller.sessionId);
}

export type OwnerOfRequest = (req: IncomingMessage) => string;
