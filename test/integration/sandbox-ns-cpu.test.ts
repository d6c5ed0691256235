// New namespace inside a sandbox must not depend on which CPU things ran on. Linux 6.18 hands out namespace ids in
// per-CPU batches, and binding a mount namespace's file is refused (EINVAL) unless the new namespace's id is above
// the binder's: a sandbox whose mount namespace was made on one CPU, asked to persist a namespace made on another,
// failed about one time in five (the CPU whose batch is lower). Here the server is pinned to each CPU in turn for
// the sandbox and then to another one for the create, so both orders are tried every run.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { startSandboxServer } from '../helpers/sandbox.js';

const UID_START = 1_110_000;

/** "0-1" or "2,5-7" → [0, 1] / [2, 5, 6, 7] */
function cpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [lo, hi] = part.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (hi ?? lo) - lo + 1 }, (_, i) => lo + i);
  });
}

const original = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
const cpus = cpuList(original);

/** Pins every thread of this process (the in-process server: what it spawns inherits it) to `list`. */
function pin(list: string): void {
  const r = spawnSync('taskset', ['--all-tasks', '--pid', '--cpu-list', list, String(process.pid)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`taskset ${list}: ${r.stderr}`);
}

describe.skipIf(cpus.length < 2)('New namespace in a sandbox, whatever CPU', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startSandboxServer(UID_START);
  }, 30_000);

  afterAll(async () => {
    pin(original);
    await server?.close();
  }, 30_000);

  test('a sandbox made on one CPU persists a namespace asked for from another, both ways round', async () => {
    const [a, b] = cpus as [number, number];
    try {
      for (const [made, asked] of [
        [a, b],
        [b, a],
      ] as const) {
        pin(String(made));
        expect((await server.api('/api/sandbox/reset', { method: 'POST' })).status).toBe(200);
        pin(String(asked));
        const res = await server.api('/api/namespaces', {
          method: 'POST',
          body: JSON.stringify({ type: 'mnt', name: `cpu${made}-${asked}` }),
        });
        expect(res.status, `sandbox made on CPU ${made}, namespace on CPU ${asked}: ${await res.clone().text()}`).toBe(
          201,
        );
        const ns = (await res.json()) as { id: string };
        expect((await server.api(`/api/namespaces/${ns.id}`, { method: 'DELETE' })).status).toBe(204);
      }
    } finally {
      pin(original);
    }
  }, 30_000);
});
