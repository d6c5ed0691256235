// The live event stream (`GET /ws/events`): JSON text frames. The client says which namespaces' mount tables it
// watches; the server pushes the namespace list when it changes and each watched table when it changes.
import * as z from 'zod/mini';
import {
  MountSchema,
  NamespaceSchema,
  NsIdSchema,
  ScanProblemSchema,
  TableTruncationSchema,
  parseWire,
} from './api.js';
import { LessonServerMessageSchema } from './lessons.js';

/** Most mount tables one client may watch at once (the UI shows two). */
const MAX_WATCHED = 16;

export const EventsClientMessageSchema = z.strictObject({
  type: z.literal('watch'),
  /** namespace ids whose mount tables to push; replaces the previous set */
  ids: z.array(NsIdSchema).check(z.maxLength(MAX_WATCHED)),
});
export type EventsClientMessage = z.infer<typeof EventsClientMessageSchema>;

export const EventsServerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('namespaces'),
    namespaces: z.array(NamespaceSchema),
    problems: z.optional(z.array(ScanProblemSchema)),
  }),
  /** `truncated`: absent when `mounts` is the whole table (see TableTruncation) */
  z.object({
    type: z.literal('mounts'),
    id: z.string(),
    mounts: z.array(MountSchema),
    truncated: z.optional(TableTruncationSchema),
  }),
  /** a watched namespace no longer exists */
  z.object({ type: z.literal('gone'), id: z.string() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  /** the followed lesson's step states (see shared/lessons.ts) */
  LessonServerMessageSchema,
]);
export type EventsServerMessage = z.infer<typeof EventsServerMessageSchema>;

/** A frame of the live event stream, or null when it is not one we understand. */
export const parseEventsMessage = (text: string): EventsServerMessage | null =>
  parseWire(EventsServerMessageSchema, text);
