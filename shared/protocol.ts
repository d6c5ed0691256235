// The terminal stream (`GET /ws/sessions/:id`): binary frames carry raw terminal bytes both ways; text frames
// carry these JSON control messages. Defined once here, as schemas, and validated on receipt by both sides:
// the server parses ClientMessage strictly, the browser parses ServerMessage tolerantly (unknown keys stripped).
import * as z from 'zod/mini';
import { ColsSchema, RowsSchema, TargetInfoSchema, parseWire, type ErrorCode } from './api.js';
import { NS_ID_PATTERN } from './constants.js';

export { CLOSE } from './constants.js';

/** Largest ack the server believes: a client never processes more than this between two acks. */
const MAX_ACK_BYTES = 1 << 30;

export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('resize'), cols: ColsSchema, rows: RowsSchema }),
  /** output bytes processed (written by xterm) since the previous ack */
  z.strictObject({ type: z.literal('ack'), bytes: z.int().check(z.minimum(0), z.maximum(MAX_ACK_BYTES)) }),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** Where a shell's foreground process is now, for the pane header. */
export const WhereInfoSchema = z.object({
  pid: z.int(),
  command: z.string(),
  /** `mnt:4026533646` */
  mnt: z.nullable(z.string().check(z.regex(NS_ID_PATTERN))),
});
export type WhereInfo = z.infer<typeof WhereInfoSchema>;

export type WsErrorCode =
  'BAD_MESSAGE' | 'INVALID_JSON' | 'READ_ONLY' | 'VIEWER_TOO_SLOW' | 'BAD_ACK' | 'TOO_MANY_MESSAGES';

export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    session: z.string(),
    target: TargetInfoSchema,
    pid: z.int(),
    cols: z.int(),
    rows: z.int(),
    readOnly: z.boolean(),
    /** byte offset of the live output that follows the replayed screen */
    seq: z.int().check(z.minimum(0)),
  }),
  z.object({ type: z.literal('exit'), code: z.int(), signal: z.nullable(z.int()) }),
  /** `code` is an ErrorCode or WsErrorCode; read as any string so a newer server's code still shows its message */
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  z.object({ type: z.literal('where'), where: WhereInfoSchema }),
  z.object({ type: z.literal('resized'), cols: z.int(), rows: z.int() }),
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
/** The codes the server itself puts in an `error` message (the schema reads any string). */
export type ServerErrorCode = ErrorCode | WsErrorCode;

/** A text frame of the terminal stream, or null when it is not one we understand. */
export const parseServerMessage = (text: string): ServerMessage | null => parseWire(ServerMessageSchema, text);

export function parseClientMessage(
  text: string,
): { ok: true; msg: ClientMessage } | { ok: false; code: WsErrorCode; message: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'INVALID_JSON', message: 'control message is not valid JSON' };
  }
  const r = ClientMessageSchema.safeParse(raw);
  if (!r.success)
    return {
      ok: false,
      code: 'BAD_MESSAGE',
      message: r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; '),
    };
  return { ok: true, msg: r.data };
}
