import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadSavedSession, saveSession } from './savedSessions.js';

/** sessionStorage as a browser tab has it. */
function memoryStorage(): Storage {
  const items = new Map<string, string>();
  return {
    get length() {
      return items.size;
    },
    clear: () => items.clear(),
    getItem: (k) => items.get(k) ?? null,
    key: (i) => [...items.keys()][i] ?? null,
    removeItem: (k) => void items.delete(k),
    setItem: (k, v) => void items.set(k, String(v)),
  };
}

describe('saved sessions', () => {
  beforeEach(() => vi.stubGlobal('sessionStorage', memoryStorage()));
  afterEach(() => vi.unstubAllGlobals());

  it('reads back what it saved, per pane, and forgets on null', () => {
    saveSession('inside', { id: 's1', target: { kind: 'namespace', id: 'mnt:4026532177' } });
    expect(loadSavedSession('inside')).toEqual({ id: 's1', target: { kind: 'namespace', id: 'mnt:4026532177' } });
    expect(loadSavedSession('outside')).toBeNull();
    saveSession('inside', null);
    expect(loadSavedSession('inside')).toBeNull();
  });

  it('ignores what does not validate: not JSON, a bad target', () => {
    sessionStorage.setItem('nsconsole.session.outside', '{nope');
    expect(loadSavedSession('outside')).toBeNull();
    sessionStorage.setItem(
      'nsconsole.session.outside',
      JSON.stringify({ id: 's', target: { kind: 'process', pid: 0 } }),
    );
    expect(loadSavedSession('outside')).toBeNull();
  });

  it('starts new shells when storage is disabled, without throwing', () => {
    vi.stubGlobal('sessionStorage', {
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new Error('SecurityError');
      },
    });
    expect(loadSavedSession('outside')).toBeNull();
    expect(() => saveSession('outside', { id: 's', target: { kind: 'host' } })).not.toThrow();
  });
});
