// The terminal stream (`GET /ws/sessions/:id`): binary frames carry raw terminal bytes both ways; text frames
// carry these JSON control messages. Defined once here and validated on receipt by both sides.
import { z } from 'zod';
import { ColsSchema, RowsSchema, TargetSchema, type ErrorCode } from './api.js';

export { CLOSE } from './constants.js';

export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('resize'), cols: ColsSchema, rows: RowsSchema }),
  /** output bytes processed (written by xterm) since the previous ack */
  z.strictObject({ type: z.literal('ack'), bytes: z.number().int().min(0).max(1 << 30) }),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** Where a shell's foreground process is now, for the pane header. */
export interface WhereInfo {
  pid: number;
  command: string;
  /** `mnt:4026533646` */
  mnt: string | null;
}

export type ServerMessage =
  | {
      type: 'hello';
      session: string;
      target: z.infer<typeof TargetSchema>;
      pid: number;
      cols: number;
      rows: number;
      readOnly: boolean;
      /** byte offset of the live output that follows the replayed screen */
      seq: number;
    }
  | { type: 'exit'; code: number; signal: number | null }
  | { type: 'error'; code: ErrorCode | WsErrorCode; message: string }
  | { type: 'where'; where: WhereInfo }
  | { type: 'resized'; cols: number; rows: number };

export type WsErrorCode = 'BAD_MESSAGE' | 'INVALID_JSON' | 'READ_ONLY' | 'VIEWER_TOO_SLOW' | 'BAD_ACK' | 'TOO_MANY_MESSAGES';

export function parseClientMessage(text: string): { ok: true; msg: ClientMessage } | { ok: false; code: WsErrorCode; message: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'INVALID_JSON', message: 'control message is not valid JSON' };
  }
  const r = ClientMessageSchema.safeParse(raw);
  if (!r.success) return { ok: false, code: 'BAD_MESSAGE', message: r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ') };
  return { ok: true, msg: r.data };
}
