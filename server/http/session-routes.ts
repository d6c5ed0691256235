// `/api/sessions`: create, list, inspect, end and share terminal sessions. The stream itself is the WebSocket
// `GET /ws/sessions/:id` (ws/terminal-stream.ts).
import express from 'express';
import { CreateSessionSchema, type ShareLink } from '../../shared/api.js';
import type { TerminalRegistry } from '../terminals/registry.js';
import { AppError } from './errors.js';

export function sessionRoutes(registry: TerminalRegistry): express.Router {
  const router = express.Router();
  // JSON bodies are parsed (and limited) for all of /api by createApp (http/app.ts).

  const sessionOr404 = (id: string) => {
    const session = registry.get(id);
    if (!session) throw new AppError('SESSION_NOT_FOUND', `no session ${id}`);
    return session;
  };

  router.post('/', async (req, res) => {
    const parsed = CreateSessionSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      const targetIssue = parsed.error.issues.some((i) => i.path[0] === 'target');
      const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      throw new AppError(targetIssue ? 'BAD_TARGET' : 'BAD_REQUEST', message);
    }
    const session = await registry.create(parsed.data);
    res.status(201).json(session.info());
  });

  router.get('/', (_req, res) => {
    res.json({ sessions: registry.list() });
  });

  router.get('/:id', (req, res) => {
    res.json(sessionOr404(req.params.id).info());
  });

  router.delete('/:id', async (req, res) => {
    await registry.remove(req.params.id);
    res.status(204).end();
  });

  router.post('/:id/share', (req, res) => {
    const { id } = sessionOr404(req.params.id);
    const token = registry.viewerToken(id);
    const link: ShareLink = { token, url: `/?session=${encodeURIComponent(id)}&view=${encodeURIComponent(token)}` };
    res.status(201).json(link);
  });

  return router;
}
