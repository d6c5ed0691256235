import { describe, expect, it } from 'vitest';
import { parseShareParams } from './shareParams.js';

describe('parseShareParams', () => {
  it('reads a share link', () => {
    expect(parseShareParams('?session=abc_-1&view=tok-EN_9')).toEqual({ sessionId: 'abc_-1', token: 'tok-EN_9' });
  });
  it('is null for the owner console (no share parameters)', () => {
    expect(parseShareParams('?token=x')).toBeNull();
    expect(parseShareParams('')).toBeNull();
  });
  it('opens the viewer with empty fields for a half or malformed link, never the console', () => {
    expect(parseShareParams('?session=abc')).toEqual({ sessionId: 'abc', token: '' });
    expect(parseShareParams('?session=a/b&view=t%20t')).toEqual({ sessionId: '', token: '' });
  });
});
