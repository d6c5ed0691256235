// `/api/sandbox`: the caller's sandbox (GET, created on first use) and `POST /api/sandbox/reset` (destroy and
// recreate: every process, mount and file of it gone).
import express from 'express';
import { AppError } from '../errors.js';
import type { SandboxManager } from './manager.js';

export function sandboxRoutes(manager: SandboxManager, ownerOf: (req: express.Request) => string): express.Router {
  const router = express.Router();
  router.get('/', async (req, res) => {
    res.json(await manager.info(ownerOf(req)));
  });
  router.post('/reset', async (req, res) => {
    res.json(await manager.reset(ownerOf(req)));
  });
  return router;
}

/** Without --sandbox: a clear answer rather than a bare 404. */
export function sandboxOffRoutes(): express.Router {
  const router = express.Router();
  router.use(() => {
    throw new AppError('NOT_SUPPORTED', 'sandbox mode is off: start nsconsole with --sandbox (NSCONSOLE_SANDBOX=1)');
  });
  return router;
}
