// The Express side of errors: unknown routes become NOT_FOUND, and every error thrown in a handler becomes the
// JSON answer of its AppError (server/errors.ts).
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, errorBody } from '../errors.js';
import type { Logger } from '../log.js';

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`));
};

/** The one error middleware: AppError → its JSON; body-parser errors → 400/413; anything else → 500, logged. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) return next(err);
    let appErr: AppError;
    if (err instanceof AppError) appErr = err;
    else if (isBodyParserError(err) && err.type === 'entity.parse.failed')
      appErr = new AppError('INVALID_JSON', 'request body is not valid JSON');
    else if (isBodyParserError(err) && err.type === 'entity.too.large')
      appErr = new AppError('PAYLOAD_TOO_LARGE', 'request body is too large');
    else if (hasClientStatus(err))
      appErr = new AppError('BAD_REQUEST', err.message); // e.g. a URIError from bad %-encoding in a path
    else {
      log.error({ err }, 'unhandled error');
      appErr = new AppError('INTERNAL', 'internal error');
    }
    res.status(appErr.status).json(errorBody(appErr.code, appErr.message));
  };
}

function isBodyParserError(err: unknown): err is { type: string; status?: number; message: string } {
  return (
    typeof err === 'object' && err !== null && 'type' in err && typeof (err as { type: unknown }).type === 'string'
  );
}

function hasClientStatus(err: unknown): err is { status: number; message: string } {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
