// The live event stream (`GET /ws/events`): JSON text frames. The client says which namespaces' mount tables it
// watches; the server pushes the namespace list when it changes and each watched table when it changes.
import { z } from 'zod';
import { NsIdSchema, type Mount, type NamespaceList, type TableTruncation } from './api.js';

export const EventsClientMessageSchema = z.strictObject({
  type: z.literal('watch'),
  /** namespace ids whose mount tables to push; replaces the previous set */
  ids: z.array(NsIdSchema).max(16),
});
export type EventsClientMessage = z.infer<typeof EventsClientMessageSchema>;

export type EventsServerMessage =
  | ({ type: 'namespaces' } & NamespaceList)
  /** `truncated`: absent when `mounts` is the whole table (see TableTruncation) */
  | { type: 'mounts'; id: string; mounts: Mount[]; truncated?: TableTruncation }
  /** a watched namespace no longer exists */
  | { type: 'gone'; id: string }
  | { type: 'error'; code: string; message: string };
