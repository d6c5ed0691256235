// A sandbox's live Namespaces list follows its own processes (server/sandbox/live-list.ts), not the host's scans:
// the host's list events are held back here, as a spent scan budget holds them (up to 750 ms each, issue #14),
// and the sandbox's list must still show a namespace its learner makes and drop it when it ends.
import { afterEach, describe, expect, test } from 'vitest';
import type { Namespace } from '../../shared/api.js';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine, type EngineEvent, type NamespaceEngine } from '../../server/namespaces/engine.js';
import { SandboxActivity } from '../../server/sandbox/live-list.js';
import { createSandboxManager, type SandboxManager } from '../../server/sandbox/manager.js';
import { scopedEngine } from '../../server/sandbox/scope.js';
import { hostPidsWithUidIn, sandboxConfig } from '../helpers/sandbox.js';

const UID_START = 1_850_000;
const RANGE = 2 * 65536;
const log = createLogger('silent');

async function until<T>(look: () => T | null | undefined, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = look();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The host engine, but its list events stop once `hold.on` is set (the tables' events still pass). */
function heldBack(engine: NamespaceEngine, hold: { on: boolean }): NamespaceEngine {
  const watch: NamespaceEngine['watch'] = (listener, ids) =>
    engine.watch((e: EngineEvent) => {
      if (e.type === 'namespaces' && hold.on) return;
      listener(e);
    }, ids);
  return new Proxy(engine, {
    get(target, key) {
      if (key === 'watch') return watch;
      const v: unknown = Reflect.get(target, key);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe("a sandbox's live list", () => {
  let manager: SandboxManager | undefined;
  let engine: NamespaceEngine | undefined;
  let stop: (() => void) | undefined;

  afterEach(async () => {
    stop?.();
    await manager?.dispose();
    engine?.dispose();
    stop = manager = engine = undefined;
    await until(() => (hostPidsWithUidIn(UID_START, RANGE).length === 0 ? true : null), 'sandbox processes to exit');
  }, 30_000);

  test("shows a namespace made in the sandbox, and drops it when it ends, while the host's list is held back", async () => {
    manager = createSandboxManager(sandboxConfig(UID_START), log);
    engine = createNamespaceEngine({ nsDir: '/nonexistent-nsconsole-test', log });
    const m = manager;
    const hold = { on: false };
    const host = heldBack(engine, hold);
    const scoped = scopedEngine(host, () => m.get('alice'), new SandboxActivity(host, log));
    const lists: Namespace[][] = [];
    const watch = scoped.watch((e) => {
      if (e.type === 'namespaces') lists.push(e.namespaces);
    }, []);
    stop = () => watch.dispose();
    const sb = await m.get('alice');
    await until(() => lists.at(-1)?.some((n) => n.id === sb.nsIds.get('mnt')), "the sandbox's first list");
    hold.on = true;

    // `unshare -m sleep &` as the walkthrough types it, and the new namespace's id once it has switched.
    const out = await sb.run(
      [
        '/bin/sh',
        '-c',
        'unshare -m --propagation private sleep 1000 </dev/null >/dev/null 2>&1 & p=$!; ' +
          'm0=$(readlink /proc/self/ns/mnt); while [ "$(readlink /proc/$p/ns/mnt)" = "$m0" ]; do :; done; ' +
          'echo "$p $(readlink /proc/$p/ns/mnt)"',
      ],
      'unshare -m sleep',
    );
    const [pid, link] = out.trim().split(' ');
    const id = `mnt:${/\[(\d+)\]/.exec(link ?? '')?.[1]}`;
    // Seen between its unshare() and its exec, the row still says `unshare …`; the exec's event updates it.
    const row = await until(
      () => lists.at(-1)?.find((n) => n.id === id && n.command === 'sleep 1000'),
      `the list to show ${id} running sleep`,
    );
    expect(row).toMatchObject({ type: 'mnt', nprocs: 1, command: 'sleep 1000' });
    expect(row.untrusted).toBeDefined(); // owned by the sandbox's user namespace, like every row it sees

    await sb.run(['/bin/sh', '-c', `kill ${pid}`], 'kill sleep');
    await until(() => (lists.at(-1)?.some((n) => n.id === id) === false ? true : null), `the list to drop ${id}`);
    // The sandbox's own namespaces stay listed meanwhile.
    expect(lists.at(-1)?.some((n) => n.id === sb.nsIds.get('mnt'))).toBe(true);
  }, 30_000);
});
