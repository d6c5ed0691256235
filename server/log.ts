import { pino } from 'pino';

export type Logger = pino.Logger;

/** JSON logs on stderr (stdout carries only the URL line). Quiet under tests unless NSCONSOLE_LOG_LEVEL says otherwise. */
export function createLogger(
  level = process.env.NSCONSOLE_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
): Logger {
  return pino({ level, base: undefined }, pino.destination(2));
}
