// `GET /api/whoami` → `{ user, admin, sandbox }` for the signed-in caller (the app has refused everyone else).
import express from 'express';
import type { WhoAmI } from '../../shared/api.js';
import type { Auth } from '../http/auth.js';
import { AppError } from '../errors.js';

/** `sandbox`: the server runs every session in its owner's sandbox (--sandbox) */
export function identityRoutes(auth: Pick<Auth, 'caller'>, sandbox = false): express.Router {
  const router = express.Router();
  router.get('/whoami', (req, res) => {
    const caller = auth.caller(req);
    if (caller?.role !== 'owner') throw new AppError('UNAUTHORIZED', 'not signed in');
    const body: WhoAmI = { user: caller.user, admin: caller.admin, sandbox };
    res.json(body);
  });
  return router;
}
