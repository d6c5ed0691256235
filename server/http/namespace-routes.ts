// REST for namespaces, mounted by the app at /api/namespaces (behind auth and express.json()).
// Inputs are validated here with the shared zod schemas; the engine throws AppError for everything expected.
import express from 'express';
import type { z } from 'zod';
import {
  CreateNamespaceSchema,
  MOUNTS_PAGE_MAX_ROWS,
  NsIdSchema,
  NsTypeSchema,
  type MountDiff,
  type Namespace,
  type NamespaceList,
} from '../../shared/api.js';
import type { NamespaceEngine } from '../namespaces/engine.js';
import { mountTableText } from '../namespaces/mounts-message.js';
import { AppError } from '../errors.js';

function firstIssue(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid input';
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

function nsIdParam(value: unknown): string {
  const parsed = NsIdSchema.safeParse(value);
  if (!parsed.success)
    throw new AppError('BAD_NAMESPACE_ID', `${JSON.stringify(value)} is not a namespace id like mnt:4026532177`);
  return parsed.data;
}

/** `?offset=N&limit=M` of GET …/mounts: whole numbers, limit 1…MOUNTS_PAGE_MAX_ROWS (also the default). */
function pageParams(query: Record<string, unknown>): { offset: number; limit: number } {
  const num = (name: string, value: unknown, min: number, max: number, dflt: number): number => {
    if (value === undefined) return dflt;
    const n = typeof value === 'string' && /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max))
      throw new AppError('BAD_REQUEST', `${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  return {
    offset: num('offset', query.offset, 0, 1e9, 0),
    limit: num('limit', query.limit, 1, MOUNTS_PAGE_MAX_ROWS, MOUNTS_PAGE_MAX_ROWS),
  };
}

/**
 * How long the server itself took for the answer (the scan or the table read, ms), as the Server-Timing header:
 * browsers' network panels show it, and it tells a slow answer that waited on the machine from one that was
 * slow to compute (the fairness bench reports both).
 */
function serverTiming(what: 'scan' | 'read', started: number): string {
  return `${what};dur=${(performance.now() - started).toFixed(1)}`;
}

/** `engine`: one for every request, or (--sandbox) the one of the request's caller: their sandbox's view. */
export function namespaceRoutes(engine: NamespaceEngine | ((req: express.Request) => NamespaceEngine)): express.Router {
  const router = express.Router();
  const engineOf = (req: express.Request): NamespaceEngine => (typeof engine === 'function' ? engine(req) : engine);

  router.get('/', async (req, res) => {
    let type;
    if (req.query.type !== undefined) {
      const parsed = NsTypeSchema.safeParse(req.query.type);
      if (!parsed.success) throw new AppError('BAD_REQUEST', `type must be one of ${NsTypeSchema.options.join(', ')}`);
      type = parsed.data;
    }
    const started = performance.now();
    const body: NamespaceList = await engineOf(req).list(type);
    res.setHeader('Server-Timing', serverTiming('scan', started));
    res.json(body);
  });

  router.get('/:id/mounts', async (req, res) => {
    const id = nsIdParam(req.params.id);
    // Serialized on the scan worker (a page may be thousands of rows): sent as it is.
    const started = performance.now();
    const table = await engineOf(req).mountsJson(id, pageParams(req.query as Record<string, unknown>));
    res.setHeader('Server-Timing', serverTiming('read', started));
    res.type('application/json').send(mountTableText(table));
  });

  router.get('/:a/diff/:b', async (req, res) => {
    const body: MountDiff = await engineOf(req).diff(nsIdParam(req.params.a), nsIdParam(req.params.b));
    res.json(body);
  });

  router.post('/', async (req, res) => {
    const parsed = CreateNamespaceSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      const nameProblem = parsed.error.issues.some((i) => i.path[0] === 'name');
      throw new AppError(nameProblem ? 'BAD_NAME' : 'BAD_REQUEST', firstIssue(parsed.error));
    }
    const body: Namespace = await engineOf(req).create(parsed.data);
    res.status(201).json(body);
  });

  router.delete('/:id', async (req, res) => {
    await engineOf(req).remove(nsIdParam(req.params.id));
    res.status(204).end();
  });

  return router;
}
