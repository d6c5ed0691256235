// The lesson runs a --sandbox server keeps per user are bounded by the sandboxes' lifetime: a user's runs go when
// their sandbox goes (idle expiry, Reset sandbox, its init died), except a run an event stream follows, whose
// progress starts over instead; runs of users with no live sandbox and no follower are pruned whenever a run is
// made. On a host every caller shares one run per lesson. (A stand-in sandbox manager: the bound is bookkeeping;
// lessons-sandbox-users.test.ts drives real sandboxes.)
import { afterEach, describe, expect, test } from 'vitest';
import type { LessonServerMessage } from '../../shared/lessons.js';
import { defaultLessonsDir, LessonService } from '../../server/lessons/service.js';
import type { LessonSandboxes } from '../../server/lessons/places.js';
import { createLogger } from '../../server/log.js';
import type { NamespaceEngine } from '../../server/namespaces/engine.js';

const L1 = 'mount-namespaces';
const L2 = 'hostnames';

/** An engine with nothing in it: lists are empty, watches never fire. */
const emptyEngine = {
  list: () => Promise.resolve({ namespaces: [] }),
  selfId: () => {
    throw new Error('no namespaces here');
  },
  watch: () => ({ setIds: () => undefined, dispose: () => undefined }),
} as unknown as NamespaceEngine;

function fakeSandboxes() {
  const alive = new Set<string>();
  const listeners = new Set<(owner: string) => void>();
  const sandboxes: LessonSandboxes = {
    manager: {
      get: () => Promise.reject(new Error('no sandboxes in this test')),
      peek: () => null,
      owners: () => [...alive],
      onDropped(fn) {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
    },
    engineFor: () => emptyEngine,
    sessionOwner: () => 'nobody',
  };
  const drop = (owner: string) => {
    alive.delete(owner);
    for (const fn of listeners) fn(owner);
  };
  return { sandboxes, alive, drop, listeners };
}

const registry = { get: () => undefined, list: () => [] };
const log = createLogger('silent');

describe('lesson runs per user', () => {
  let service: LessonService | undefined;
  afterEach(async () => {
    await service?.dispose();
    service = undefined;
  });

  test('--sandbox: runs follow the sandboxes; followed ones start over instead of going', async () => {
    const { sandboxes, alive, drop, listeners } = fakeSandboxes();
    const s = new LessonService({ dir: defaultLessonsDir(), engine: emptyEngine, registry, log, sandboxes });
    service = s;

    alive.add('alice');
    s.detail('alice', L1);
    s.detail('alice', L2);
    expect(s.runCount).toBe(2);
    s.detail('alice', L1); // the same run again
    expect(s.runCount).toBe(2);

    s.detail('bob', L1); // bob has no sandbox: kept until the next run is made
    expect(s.runCount).toBe(3);
    s.detail('carol', L1); // bob's goes
    expect(s.runCount).toBe(3);
    const pushes: LessonServerMessage[] = [];
    const unfollow = s.follow('dave', L1, {}, (m) => pushes.push(m)); // carol's goes; dave's is followed
    expect(s.runCount).toBe(3);
    s.detail('erin', L1); // dave's stays: followed
    expect(s.runCount).toBe(4);

    drop('alice'); // idle expiry or Reset sandbox: alice's runs go with her sandbox
    expect(s.runCount).toBe(2);

    const before = pushes.length;
    drop('dave'); // followed: kept, its progress starts over and is pushed
    expect(s.runCount).toBe(2);
    expect(pushes.length).toBe(before + 1);
    expect(pushes.at(-1)?.steps.every((p) => p.state === 'pending')).toBe(true);
    expect(pushes.at(-1)?.steps[0]?.reason).toMatch(/your sandbox is not running/);

    unfollow();
    s.detail('frank', L1); // dave's and erin's go: no sandbox, no follower
    expect(s.runCount).toBe(1);

    await s.dispose();
    service = undefined;
    expect(listeners.size).toBe(0); // unsubscribed from the manager
  });

  test('on a host every caller shares the one run of a lesson', () => {
    const s = new LessonService({ dir: defaultLessonsDir(), engine: emptyEngine, registry, log });
    service = s;
    s.detail('alice', L1);
    s.detail('bob', L1);
    s.detail('@token', L1);
    expect(s.runCount).toBe(1);
  });
});
