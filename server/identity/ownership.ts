// Who owns which terminal session, and what a caller may do with it: a user sees, attaches and ends only their
// own sessions (another's is "not found", so ids leak nothing); an admin sees all of them with their owner and
// watches others' read-only; a share-link viewer sees its one session, read-only.
import type { Caller } from '../http/auth.js';
import { TOKEN_USER } from './identity.js';

export type Access = 'none' | 'read' | 'write';

export interface Ownership {
  set(sessionId: string, user: string): void;
  /** the session's owner; TOKEN_USER for a session created some other way (by the server itself) */
  ownerOf(sessionId: string): string;
  access(caller: Caller, sessionId: string): Access;
}

/** `exists(id)`: whether the session is still in the registry; entries of ended sessions are dropped on the next set. */
export function createOwnership(exists: (sessionId: string) => boolean): Ownership {
  const owners = new Map<string, string>();
  const ownerOf = (id: string) => owners.get(id) ?? TOKEN_USER;
  return {
    set(sessionId, user) {
      // Bounded: at most --max-sessions live entries plus those ended since the previous create.
      for (const id of owners.keys()) if (!exists(id)) owners.delete(id);
      owners.set(sessionId, user);
    },
    ownerOf,
    access(caller, id) {
      if (caller.role === 'viewer') return caller.sessionId === id ? 'read' : 'none';
      if (ownerOf(id) === caller.user) return 'write';
      return caller.admin ? 'read' : 'none';
    },
  };
}
