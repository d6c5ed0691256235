// REST for lessons, mounted by the app at /api/lessons (behind auth). Progress is pushed on /ws/events. Progress
// and Reset are the caller's (`ownerOf`, sandbox/owners.ts): with --sandbox each user's own, on a host the one run.
import express from 'express';
import { LESSON_ID_PATTERN, type LessonList } from '../../shared/lessons.js';
import { AppError } from '../errors.js';
import type { LessonService } from './service.js';

export function lessonRoutes(lessons: LessonService, ownerOf: (req: express.Request) => string): express.Router {
  const router = express.Router();

  const idOf = (raw: string) => {
    if (!LESSON_ID_PATTERN.test(raw)) throw new AppError('LESSON_NOT_FOUND', `no lesson ${JSON.stringify(raw)}; GET /api/lessons lists them`);
    return raw;
  };

  router.get('/', (_req, res) => {
    const body: LessonList = { lessons: lessons.list() };
    res.json(body);
  });

  router.get('/:id', (req, res) => {
    res.json(lessons.detail(ownerOf(req), idOf(req.params.id)));
  });

  router.post('/:id/reset', async (req, res) => {
    res.json(await lessons.reset(ownerOf(req), idOf(req.params.id)));
  });

  return router;
}
