import { describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../shared/api.js';
import { CLOSE } from '../../shared/constants.js';
import { AppError, ERROR_CODES, type ErrorCode } from '../../server/errors.js';

describe('the error code table (server/errors.ts)', () => {
  it('gives every code both its HTTP status (the wire table) and a WebSocket close code', () => {
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      expect(ERROR_CODES[code].status).toBe(ERROR_STATUS[code]);
      expect(ERROR_CODES[code].close).toBeGreaterThanOrEqual(1000);
      const err = new AppError(code, 'x');
      expect([err.status, err.closeCode]).toEqual([ERROR_CODES[code].status, ERROR_CODES[code].close]);
    }
  });

  it('keeps the close codes a refused terminal attach has always sent', () => {
    expect(new AppError('SESSION_NOT_FOUND', 'x').closeCode).toBe(4004);
    expect(new AppError('SESSION_EXITED', 'x').closeCode).toBe(4000);
    expect(new AppError('TOO_MANY_CLIENTS', 'x').closeCode).toBe(4029);
    expect(CLOSE.SESSION_NOT_FOUND).toBe(4004);
  });

  it('refuses an unsafe ns-dir with its own code, not KERNEL_ERROR', () => {
    expect(new AppError('NS_DIR_UNSAFE', 'x').status).toBe(409);
  });
});
