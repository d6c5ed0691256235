// The connection cap follows the fd limit: it leaves FD_HEADROOM free below a low `ulimit -n`.
import { describe, expect, it } from 'vitest';
import { connectionCap, FD_HEADROOM, MAX_CONNECTIONS } from '../../server/http/conn-limits.js';

const limits = (soft: string) =>
  `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            ${soft}                20000                files     \n`;

describe('connectionCap', () => {
  it('is MAX_CONNECTIONS when the fd limit leaves room', () => {
    expect(connectionCap(limits('20000'))).toBe(MAX_CONNECTIONS);
    expect(connectionCap(limits('unlimited'))).toBe(MAX_CONNECTIONS);
  });
  it('leaves FD_HEADROOM below a low soft limit', () => {
    expect(connectionCap(limits('1500'))).toBe(1500 - FD_HEADROOM);
  });
  it('never goes below its floor, and keeps the fixed cap without /proc', () => {
    expect(connectionCap(limits('256'))).toBe(64);
    expect(connectionCap('')).toBe(MAX_CONNECTIONS);
  });
});
