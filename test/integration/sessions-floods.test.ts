// Many floods at once (issue #11): more sessions flood than one event-loop turn reads (server/terminals/
// read-turns.ts), so they take turns, each throttled between its reads. Nothing may be lost to that: every flood
// arrives whole, including the last lines of a shell that exits while it waits its turn, and a raw `cat` in
// another session still echoes what is typed meanwhile.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { READERS_PER_TURN } from '../../server/terminals/read-turns.js';
import { startTerminalHarness, type TerminalHarness } from '../helpers/terminal-harness.js';
import { TermClient } from '../helpers/term-client.js';

/** Three times the floods a turn reads: most of them wait their turn most of the time. */
const FLOODS = 3 * READERS_PER_TURN;
const LINES = 100_000;

const clients: TermClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.dispose();
});

describe('many floods at once', () => {
  let h: TerminalHarness;
  beforeAll(async () => {
    h = await startTerminalHarness({ createRate: { burst: 100, perSecond: 100 } });
  });
  afterAll(async () => {
    await h.close();
  });

  async function attach(): Promise<TermClient> {
    const { id } = await h.createSession();
    const c = new TermClient(h.openWs(id));
    clients.push(c);
    await c.opened;
    await c.waitForMessage('hello');
    return c;
  }

  it('delivers every flood whole, last lines included, while a raw cat elsewhere echoes', async () => {
    const typist = await attach();
    typist.type("stty raw -echo; printf 'CAT%sREADY' -; exec cat\r");
    await typist.waitForText('CAT-READY');
    const floods = await Promise.all(Array.from({ length: FLOODS }, () => attach()));
    for (const [i, c] of floods.entries()) c.type(`seq 1 ${LINES}; echo flood-$((${i}+1000))-end; exit\r`);
    // Typed while the floods run: each key must come back.
    for (const key of ['a', 'b', 'c']) {
      typist.type(key);
      await typist.waitForText(`CAT-READY${'abc'.slice(0, 'abc'.indexOf(key) + 1)}`, 20_000);
    }
    await Promise.all(floods.map((c) => c.waitForMessage('exit', 60_000)));
    for (const [i, c] of floods.entries()) {
      await c.settled();
      const tail = c
        .lines()
        .filter((l) => l.trim() !== '')
        .slice(-3);
      expect(tail, `flood ${i}`).toEqual([String(LINES), `flood-${i + 1000}-end`, 'exit']);
    }
  }, 90_000);
});
