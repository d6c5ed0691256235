// REST for containers, mounted by the app at /api/containers (behind auth).
import express from 'express';
import type { Container, ContainerList } from '../../shared/api.js';
import type { ContainerTracker } from '../containers/tracker.js';

export function containerRoutes(tracker: ContainerTracker): express.Router {
  const router = express.Router();
  router.get('/', async (_req, res) => {
    const containers: Container[] = (await tracker.list()).map((c) => ({ ...c }));
    const body: ContainerList = { containers };
    res.json(body);
  });
  return router;
}
