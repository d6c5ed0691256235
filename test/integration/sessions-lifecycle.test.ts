// Session lifetimes: the grace period, teardown of whole process groups, and many open/close cycles without
// leaking processes or file descriptors.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FIRST_ATTACH_WINDOW_MS } from '../../server/terminals/session.js';
import { startTerminalHarness, type TerminalHarness } from '../helpers/terminal-harness.js';
import { TermClient } from '../helpers/term-client.js';
import { childPids, openFdCount, pidsInSession, pidsWithMark, waitUntil } from '../helpers/proc.js';
import { readFileSync } from 'node:fs';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function harness(config: Parameters<typeof startTerminalHarness>[0]): Promise<TerminalHarness> {
  const h = await startTerminalHarness(config);
  cleanups.push(() => h.close());
  return h;
}

async function attach(h: TerminalHarness, id: string): Promise<TermClient> {
  const c = new TermClient(h.openWs(id));
  cleanups.push(() => c.dispose());
  await c.waitForMessage('hello');
  return c;
}

describe('session lifetime', () => {
  it('outlives its socket for the grace period, then its processes are gone', async () => {
    const h = await harness({ config: { sessionGraceMs: 1500 } });
    const { id, pid } = await h.createSession();
    const first = await attach(h, id);
    first.type('sleep 1000 & echo kept$((1+1))\r');
    await first.waitForText('kept2');
    first.ws.close();
    await first.waitClosed();
    // The server has seen the socket go (no client left): from here the grace period runs.
    await waitUntil(() => h.registry.get(id)?.info().clients === 0, 'the server to see the client leave', 5000);
    const info = (await (await h.api(`/api/sessions/${id}`)).json()) as { clients: number; exited: unknown };
    expect(info).toMatchObject({ clients: 0, exited: null });
    expect(pidsInSession(pid, h.mark).length).toBeGreaterThanOrEqual(2);

    const again = await attach(h, id);
    await again.waitForText('kept2'); // the replayed screen
    again.ws.terminate(); // abrupt this time
    const leftAt = Date.now();
    await waitUntil(() => pidsInSession(pid, h.mark).length === 0, 'the session processes to end', 8000);
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(1400);
    expect((await h.api(`/api/sessions/${id}`)).status).toBe(404);
  });

  it(
    'ends a session that nobody ever attached to, after the first-attach window',
    async () => {
      const h = await harness({ config: { sessionGraceMs: 0 } });
      const { id, pid } = await h.createSession();
      await new Promise((r) => setTimeout(r, 300));
      expect(h.registry.get(id)).toBeDefined(); // grace 0 must not kill it before the browser's socket arrives
      await waitUntil(
        () => h.registry.get(id) === undefined && pidsInSession(pid, h.mark).length === 0,
        'the unopened session to end',
        FIRST_ATTACH_WINDOW_MS + 5000,
      );
    },
    FIRST_ATTACH_WINDOW_MS + 10_000,
  );

  it('disposeAll ends every process group, stubborn ones included, within 5 s', async () => {
    const h = await harness({});
    const pids: number[] = [];
    for (const job of [
      'sleep 1000 &',
      'nohup sleep 1000 >/dev/null 2>&1 &',
      'bash -c \'trap "" HUP TERM; sleep 1000\' &',
      "trap '' HUP; sleep 1000 &",
    ]) {
      const { id, pid } = await h.createSession();
      const c = await attach(h, id);
      c.type(`${job} echo ready$((1+1))\r`);
      await c.waitForText('ready2');
      pids.push(pid);
    }
    await waitUntil(() => pids.every((p) => pidsInSession(p, h.mark).length >= 2), 'jobs to start');
    const t0 = Date.now();
    await h.registry.disposeAll();
    expect(Date.now() - t0).toBeLessThan(5000);
    for (const p of pids) expect(pidsInSession(p, h.mark), `session ${p}`).toEqual([]);
    expect(pidsWithMark(h.mark)).toEqual([]);
    expect(h.registry.list()).toEqual([]);
    for (const p of pids) expect(childPids(process.pid)).not.toContain(p);
  });

  it('survives 1000 open/close cycles, half ending in an abrupt socket kill: no process left, fd count flat', async () => {
    // Sessions whose socket went away live on for the grace period: at 8 cycles in flight, a few hundred cycles a
    // second keep 100+ of them alive at once. The limit is not what this test is about; leave it room.
    const h = await harness({ config: { sessionGraceMs: 500, maxSessions: 1000 } });
    const allPids: number[] = [];
    const cycle = async (i: number) => {
      const t0 = Date.now();
      const { id, pid } = await h.createSession();
      const t1 = Date.now();
      allPids.push(pid);
      const ws = h.openWs(id);
      await new Promise<void>((resolve, reject) => {
        ws.once('message', () => resolve()); // hello
        ws.once('error', (err) =>
          reject(
            new Error(
              `cycle ${i}: ${err.message}; registry has it: ${h.registry.get(id) !== undefined} create took ${t1 - t0} ms, connect failed after ${Date.now() - t1} ms`,
            ),
          ),
        );
      });
      if (i % 8 === 0) {
        ws.send(Buffer.from('echo x\r'));
        await new Promise((r) => ws.once('message', r));
      }
      switch (i % 4) {
        case 0:
          ws.close();
          break;
        case 1:
          ws.terminate(); // abrupt: no close frame
          break;
        case 2:
          (ws as WebSocket & { _socket: { destroy(): void } })._socket.destroy(); // abrupt, at the socket
          break;
        default:
          // ends through the API while the socket is still open
          await h.api(`/api/sessions/${id}`, { method: 'DELETE' });
          ws.terminate();
      }
    };
    const run = async (from: number, to: number, concurrency: number) => {
      let next = from;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < to) await cycle(next++);
        }),
      );
      await waitUntil(() => h.registry.list().length === 0, 'every session to end', 20_000);
      await waitUntil(() => pidsWithMark(h.mark).length === 0, 'every process to end', 20_000);
    };
    await run(0, 40, 8); // warm-up: lazily created handles (thread pool, ws internals) are not leaks
    const fdsBefore = openFdCount();
    await run(40, 1040, 8);
    expect(allPids.length).toBe(1040);
    // Polled, not read once: a shell killed in the last cycles may still be on its way out (seen once in CI: one
    // child left at the instant of a single read). What is left after the wait is named, with its state.
    const left = () =>
      childPids(process.pid).map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/stat`, 'utf8').slice(0, 80);
        } catch {
          return String(pid); // Swallow: it exited between the listing and this read; its pid is all there is
        }
      });
    // Swallow the timeout: the expect below fails with what is left, which says more than "timed out".
    await waitUntil(() => childPids(process.pid).length === 0, 'no child process left', 5000).catch(() => undefined);
    expect(left()).toEqual([]);
    // Sockets of the last cycles may still be closing; the count must not grow with the number of cycles.
    await waitUntil(() => openFdCount() <= fdsBefore + 2, `fd count back to ${fdsBefore} (now ${openFdCount()})`, 5000);
  }, 300_000);
});
