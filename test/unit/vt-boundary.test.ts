import { describe, expect, it } from 'vitest';
import { utf8PendingAfter, VtBoundary } from '../../server/terminals/mirror/vt-boundary.js';
import { nsIdOfLink } from '../../server/proc/ns-links.js';
import { parseProcStat } from '../../server/proc/pids.js';

const bytes = (s: string) => Buffer.from(s, 'utf8');

/** Feeds `text` split at every position and reports, for each cut, whether it was judged clean. */
function cutsOf(text: string): boolean[] {
  const all = bytes(text);
  const out: boolean[] = [];
  for (let i = 1; i < all.length; i++) {
    const b = new VtBoundary();
    out.push(b.feed(all.subarray(0, i)));
  }
  return out;
}

describe('VtBoundary', () => {
  it('is clean after plain text and complete sequences', () => {
    const b = new VtBoundary();
    expect(b.feed(bytes('hello'))).toBe(true);
    expect(b.feed(bytes('\x1b[31mred\x1b[0m'))).toBe(true);
    expect(b.feed(bytes('\x1b]0;title\x07'))).toBe(true);
    expect(b.feed(bytes('\x1bP1$r0m\x1b\\'))).toBe(true);
    expect(b.feed(bytes('\x1b(B'))).toBe(true);
    expect(b.feed(bytes('é€😀'))).toBe(true);
  });

  it('is not clean inside an escape sequence, a string or a UTF-8 character', () => {
    // every cut strictly inside `ESC [ 3 1 m` is unclean, the one after it is clean
    expect(cutsOf('a\x1b[31mb')).toEqual([true, false, false, false, false, true]);
    expect(cutsOf('\x1b]0;t\x07x')).toEqual([false, false, false, false, false, true]);
    expect(cutsOf('😀x')).toEqual([false, false, false, true]);
  });

  it('carries state across chunks', () => {
    const b = new VtBoundary();
    expect(b.feed(bytes('\x1b['))).toBe(false);
    expect(b.feed(bytes('1;2'))).toBe(false);
    expect(b.feed(bytes('H'))).toBe(true);
    expect(b.feed(bytes('\x1b]2;a very long title'))).toBe(false);
    expect(b.feed(bytes(' still the title'))).toBe(false);
    expect(b.feed(bytes('\x1b\\'))).toBe(true);
    const euro = bytes('€');
    expect(b.feed(euro.subarray(0, 1))).toBe(false);
    expect(b.feed(euro.subarray(1, 2))).toBe(false);
    expect(b.feed(euro.subarray(2))).toBe(true);
  });

  it('treats CAN as the end of any sequence', () => {
    const b = new VtBoundary();
    expect(b.feed(bytes('\x1b[12'))).toBe(false);
    expect(b.feed(bytes('\x18'))).toBe(true);
  });
});

describe('utf8PendingAfter', () => {
  it('counts the continuation bytes still owed', () => {
    expect(utf8PendingAfter(0, bytes('abc'))).toBe(0);
    expect(utf8PendingAfter(0, Buffer.from([0x61, 0x62, 0xf0]))).toBe(3);
    expect(utf8PendingAfter(0, Buffer.from([0x61, 0xf0, 0x9f]))).toBe(2);
    expect(utf8PendingAfter(2, Buffer.from([0x98]))).toBe(1);
    expect(utf8PendingAfter(1, Buffer.from([0x80]))).toBe(0);
  });
});

describe('parseProcStat', () => {
  it('reads fields after a command that contains spaces and parentheses', () => {
    const text = '4242 (we ird) (name)) S 1 4242 4242 34816 4250 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0';
    expect(parseProcStat(4242, text)).toEqual({
      pid: 4242,
      state: 'S',
      ppid: 1,
      pgrp: 4242,
      session: 4242,
      tpgid: 4250,
      startTime: 987654,
    });
  });
});

describe('nsIdOfLink', () => {
  it('turns the nsfs link text into our id', () => {
    expect(nsIdOfLink('mnt:[4026533646]')).toBe('mnt:4026533646');
    expect(nsIdOfLink('garbage')).toBeNull();
  });
});
