// Audit lines for the namespace routes (namespace.create, namespace.delete) without touching them: the line is
// written as the response head is about to go out, so it carries the outcome (status) and still precedes the answer.
import express from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Auth } from '../http/auth.js';
import { plainAddress } from '../identity/identity.js';
import type { Audit, AuditAction } from './audit.js';

/** Calls `before` once, just before the response's head is written. */
export function beforeHead(res: ServerResponse, before: () => void): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  let done = false;
  (res as unknown as { writeHead: (...args: unknown[]) => ServerResponse }).writeHead = (...args: unknown[]) => {
    if (!done) {
      done = true;
      before();
    }
    return writeHead(...args);
  };
}

function actionOf(
  req: IncomingMessage & { path: string; method: string },
): { action: AuditAction; namespace: unknown } | null {
  if (req.method === 'POST' && req.path === '/')
    return { action: 'namespace.create', namespace: (req as { body?: { name?: unknown } }).body?.name };
  const del = /^\/([^/]+)$/.exec(req.path);
  if (req.method === 'DELETE' && del) return { action: 'namespace.delete', namespace: safeDecode(del[1] as string) };
  return null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // not %-encoded validly: the route answers 400; the audit keeps the raw text
  }
}

export function auditNamespaceRoutes(routes: express.Router, auth: Pick<Auth, 'caller'>, audit: Audit): express.Router {
  const router = express.Router();
  router.use((req, res, next) => {
    const what = actionOf(req);
    if (what) {
      const caller = auth.caller(req);
      const user = caller?.role === 'owner' ? caller.user : null;
      beforeHead(res, () =>
        audit.record({
          user,
          ip: plainAddress(req.socket.remoteAddress),
          action: what.action,
          namespace: typeof what.namespace === 'string' ? what.namespace : null,
          status: res.statusCode,
        }),
      );
    }
    next();
  });
  router.use(routes);
  return router;
}
