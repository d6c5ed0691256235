// Expected failures, as the domain sees them: a stable code, and from the code both the HTTP status a REST
// answer (or a refused WebSocket upgrade) carries and the close code that ends a WebSocket. Nothing here knows
// Express: the middleware that turns an AppError into a JSON answer is server/http/errors.ts.
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from '../shared/api.js';
import { CLOSE } from '../shared/constants.js';

export type { ErrorCode } from '../shared/api.js';

/**
 * The close code of a WebSocket ended by each error. Today only SESSION_NOT_FOUND, SESSION_EXITED and
 * TOO_MANY_CLIENTS end a socket (a terminal attach refused); the others get the RFC 6455 generic code of their
 * kind, so a code added later has a close code by construction.
 */
const ERROR_CLOSE: { readonly [C in ErrorCode]: number } = {
  BAD_REQUEST: CLOSE.POLICY_VIOLATION,
  INVALID_JSON: CLOSE.POLICY_VIOLATION,
  BAD_NAMESPACE_ID: CLOSE.POLICY_VIOLATION,
  BAD_NAME: CLOSE.POLICY_VIOLATION,
  BAD_TARGET: CLOSE.POLICY_VIOLATION,
  UNAUTHORIZED: CLOSE.POLICY_VIOLATION,
  FORBIDDEN: CLOSE.POLICY_VIOLATION,
  FORBIDDEN_ORIGIN: CLOSE.POLICY_VIOLATION,
  FORBIDDEN_HOST: CLOSE.POLICY_VIOLATION,
  READ_ONLY: CLOSE.POLICY_VIOLATION,
  NOT_PRIVILEGED: CLOSE.POLICY_VIOLATION,
  NOT_FOUND: CLOSE.POLICY_VIOLATION,
  NS_NOT_FOUND: CLOSE.POLICY_VIOLATION,
  LESSON_NOT_FOUND: CLOSE.POLICY_VIOLATION,
  CONTAINER_NOT_FOUND: CLOSE.POLICY_VIOLATION,
  SESSION_NOT_FOUND: CLOSE.SESSION_NOT_FOUND,
  SESSION_EXITED: CLOSE.SESSION_EXITED,
  PROCESS_NOT_FOUND: CLOSE.POLICY_VIOLATION,
  NS_EXISTS: CLOSE.POLICY_VIOLATION,
  NS_NOT_OURS: CLOSE.POLICY_VIOLATION,
  NS_BUSY: CLOSE.POLICY_VIOLATION,
  NS_DIR_UNSAFE: CLOSE.POLICY_VIOLATION,
  TARGET_CHANGED: CLOSE.POLICY_VIOLATION,
  LESSON_INVALID: CLOSE.POLICY_VIOLATION,
  CONTAINER_NO_SHELL: CLOSE.POLICY_VIOLATION,
  PAYLOAD_TOO_LARGE: CLOSE.TOO_BIG,
  TOO_MANY_SESSIONS: CLOSE.POLICY_VIOLATION,
  TOO_MANY_USER_SESSIONS: CLOSE.POLICY_VIOLATION,
  TOO_MANY_CLIENTS: CLOSE.TOO_MANY_CLIENTS,
  RATE_LIMITED: CLOSE.TOO_MANY_MESSAGES,
  KERNEL_ERROR: CLOSE.INTERNAL_ERROR,
  INTERNAL: CLOSE.INTERNAL_ERROR,
  NOT_SUPPORTED: CLOSE.INTERNAL_ERROR,
};

/** Every error code with its HTTP status (the wire table in shared/api.ts, which the browser also reads) and close code. */
export const ERROR_CODES: { readonly [C in ErrorCode]: { readonly status: number; readonly close: number } } =
  Object.fromEntries(
    (Object.keys(ERROR_STATUS) as ErrorCode[]).map((code) => [
      code,
      { status: ERROR_STATUS[code], close: ERROR_CLOSE[code] },
    ]),
  ) as { [C in ErrorCode]: { status: number; close: number } };

/** An expected failure with a stable code; the HTTP status and the WebSocket close code follow from the code. */
export class AppError extends Error {
  readonly status: number;
  readonly closeCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
    this.status = ERROR_CODES[code].status;
    this.closeCode = ERROR_CODES[code].close;
  }
}

/** The JSON body of an error answer (REST, or a refused WebSocket upgrade). */
export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}
