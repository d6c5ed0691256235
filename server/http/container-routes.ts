// REST for containers, mounted by the app at /api/containers (behind auth).
import express from 'express';
import type { Container, ContainerList } from '../../shared/api.js';
import type { ContainerTracker } from '../containers/tracker.js';

/** `tracker` null (--sandbox): containers run on the host, which a sandbox never sees, so the list is empty. */
export function containerRoutes(tracker: ContainerTracker | null): express.Router {
  const router = express.Router();
  router.get('/', async (_req, res) => {
    const containers: Container[] = tracker ? (await tracker.list()).map((c) => ({ ...c })) : [];
    const body: ContainerList = { containers };
    res.json(body);
  });
  return router;
}
