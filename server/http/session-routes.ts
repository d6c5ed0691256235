// `/api/sessions`: create, list, inspect, end and share terminal sessions, each scoped to its owner (see
// identity/ownership.ts: another user's session is "not found"; an admin sees all, read-only). The stream
// itself is the WebSocket `GET /ws/sessions/:id` (ws/terminal-stream.ts).
import express from 'express';
import type { IncomingMessage } from 'node:http';
import { CreateSessionSchema, type SessionInfo, type ShareLink } from '../../shared/api.js';
import { NO_AUDIT, type Audit } from '../audit/audit.js';
import { plainAddress, TOKEN_USER } from '../identity/identity.js';
import { createOwnership, type Ownership } from '../identity/ownership.js';
import type { TerminalRegistry } from '../terminals/registry.js';
import type { Auth } from './auth.js';
import { AppError } from '../errors.js';

export interface SessionRoutesDeps {
  /** who is asking (the app has already refused anyone without a signed-in caller) */
  auth: Pick<Auth, 'caller'>;
  ownership?: Ownership;
  audit?: Audit;
}

type User = { user: string; admin: boolean; ip: string };

export function sessionRoutes(registry: TerminalRegistry, deps?: SessionRoutesDeps): express.Router {
  const router = express.Router();
  const ownership = deps?.ownership ?? createOwnership((id) => registry.get(id) !== undefined);
  const audit = deps?.audit ?? NO_AUDIT;
  // JSON bodies are parsed (and limited) for all of /api by createApp (http/app.ts).

  const userOf = (req: IncomingMessage): User => {
    const caller = deps?.auth.caller(req);
    const ip = plainAddress(req.socket.remoteAddress);
    // Mounted without auth (a unit of the router alone): everything is the token's.
    if (!caller) return { user: TOKEN_USER, admin: true, ip };
    if (caller.role !== 'owner') throw new AppError('UNAUTHORIZED', 'a share link opens only its terminal');
    return { user: caller.user, admin: caller.admin, ip };
  };
  const withOwner = (info: SessionInfo): SessionInfo => ({ ...info, owner: ownership.ownerOf(info.id) });

  /** The session if this user may see it; another user's is "not found", exactly like a missing one. */
  const visible = (id: string, u: User) => {
    const session = registry.get(id);
    if (!session || ownership.access({ role: 'owner', user: u.user, admin: u.admin }, id) === 'none')
      throw new AppError('SESSION_NOT_FOUND', `no session ${id}`);
    return session;
  };
  /** The session if this user owns it; an admin watching another's gets READ_ONLY. */
  const owned = (id: string, u: User) => {
    const session = visible(id, u);
    if (ownership.ownerOf(id) !== u.user)
      throw new AppError(
        'READ_ONLY',
        `session ${id} belongs to ${ownership.ownerOf(id)}: an admin may watch it, not change it`,
      );
    return session;
  };

  router.post('/', async (req, res) => {
    const u = userOf(req);
    const parsed = CreateSessionSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      const targetIssue = parsed.error.issues.some((i) => i.path[0] === 'target');
      const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      throw new AppError(targetIssue ? 'BAD_TARGET' : 'BAD_REQUEST', message);
    }
    const session = await registry.create(parsed.data, u.user);
    ownership.set(session.id, u.user);
    audit.record({ user: u.user, ip: u.ip, action: 'session.create', session: session.id, target: parsed.data.target });
    res.status(201).json(withOwner(session.info()));
  });

  router.get('/', (req, res) => {
    const u = userOf(req);
    const mine = registry
      .list()
      .filter((s) => ownership.access({ role: 'owner', user: u.user, admin: u.admin }, s.id) !== 'none');
    res.json({ sessions: mine.map(withOwner) });
  });

  router.get('/:id', (req, res) => {
    res.json(withOwner(visible(req.params.id, userOf(req)).info()));
  });

  router.delete('/:id', async (req, res) => {
    const u = userOf(req);
    owned(req.params.id, u);
    await registry.remove(req.params.id);
    audit.record({ user: u.user, ip: u.ip, action: 'session.end', session: req.params.id, reason: 'delete' });
    res.status(204).end();
  });

  router.post('/:id/share', (req, res) => {
    const u = userOf(req);
    const { id } = owned(req.params.id, u);
    const token = registry.viewerToken(id);
    audit.record({ user: u.user, ip: u.ip, action: 'share.create', session: id });
    const link: ShareLink = { token, url: `/?session=${encodeURIComponent(id)}&view=${encodeURIComponent(token)}` };
    res.status(201).json(link);
  });

  return router;
}
