import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('starts quick, doubles, settles at the slow pace, within ±20 % jitter', () => {
    const b = new Backoff();
    const bases = [250, 500, 1000, 2000, 4000, 8000, 8000];
    for (const base of bases) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(base * 0.8);
      expect(d).toBeLessThanOrEqual(base * 1.2);
    }
    expect(b.attempts).toBe(bases.length);
  });

  it('starts over after reset', () => {
    const b = new Backoff();
    for (let i = 0; i < 5; i++) b.next();
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBeLessThanOrEqual(300);
  });
});
