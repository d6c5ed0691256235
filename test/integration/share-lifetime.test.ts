// Issue #15 item 5: a share link dies with the shell, and only writers hold a session open. On main, a viewer
// re-attached after `exit` (each attach restarting the grace period), POST /share on an exited session gave a
// fresh link, and a viewer alone kept an abandoned live shell running past the grace period.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE } from '../../shared/protocol.js';
import { processAlive } from '../helpers/process.js';
import { waitUntil } from '../helpers/proc.js';
import { TermClient } from '../helpers/term-client.js';
import { startTerminalHarness, type TerminalHarness } from '../helpers/terminal-harness.js';

const GRACE_MS = 1500;
/** How late past the grace period the end may come on a loaded machine (SIGHUP, exit, teardown). */
const END_MARGIN_MS = 4000;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function harness(): Promise<TerminalHarness> {
  const h = await startTerminalHarness({ config: { sessionGraceMs: GRACE_MS } });
  cleanups.push(() => h.close());
  return h;
}

function client(h: TerminalHarness, id: string, view?: string): TermClient {
  const c = new TermClient(h.openWs(id, view));
  cleanups.push(() => c.dispose());
  return c;
}

async function share(h: TerminalHarness, id: string): Promise<string> {
  const res = await h.api(`/api/sessions/${id}/share`, { method: 'POST' });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe('share links and the grace period', () => {
  it('a share link dies with the shell: no viewer attaches after exit, and /share answers 410 SESSION_EXITED', async () => {
    const h = await harness();
    const { id } = await h.createSession();
    const owner = client(h, id);
    await owner.waitForMessage('hello');
    const token = await share(h, id);
    const viewer = client(h, id, token);
    await viewer.waitForMessage('hello');

    owner.type('exit\r');
    expect((await viewer.waitClosed()).code).toBe(CLOSE.SESSION_EXITED);
    await owner.waitClosed();

    // During the grace period the session still exists (the owner may come back for the last screen)…
    expect((await h.api(`/api/sessions/${id}`)).status).toBe(200);
    const again = await h.api(`/api/sessions/${id}/share`, { method: 'POST' });
    expect(again.status).toBe(410);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('SESSION_EXITED');
    // …but the link is dead: each try is closed with SESSION_EXITED and never sees the screen.
    for (let i = 0; i < 3; i++) {
      const late = client(h, id, token);
      expect((await late.waitClosed()).code).toBe(CLOSE.SESSION_EXITED);
      expect(late.hello).toBeUndefined();
      expect(late.messages).toContainEqual(expect.objectContaining({ type: 'error', code: 'SESSION_EXITED' }));
    }
    // The browser presents the share token in the subprotocol list: the same answer.
    const browserLike = new TermClient(
      new WebSocket(h.wsUrl(id), ['nsconsole', `view.${Buffer.from(token).toString('base64url')}`]),
    );
    cleanups.push(() => browserLike.dispose());
    expect((await browserLike.waitClosed()).code).toBe(CLOSE.SESSION_EXITED);
    expect(browserLike.hello).toBeUndefined();
    // Viewer attempts did not restart the grace period: the session is gone on time, and the link still says why.
    await waitUntil(
      () => h.registry.get(id) === undefined,
      'the exited session to be removed',
      GRACE_MS + END_MARGIN_MS,
    );
    const afterRemoval = client(h, id, token);
    expect((await afterRemoval.waitClosed()).code).toBe(CLOSE.SESSION_EXITED);
  });

  it('a viewer alone does not keep an abandoned live shell running past the grace period', async () => {
    const h = await harness();
    const { id, pid } = await h.createSession();
    const owner = client(h, id);
    await owner.waitForMessage('hello');
    const viewer = client(h, id, await share(h, id));
    await viewer.waitForMessage('hello');

    const left = Date.now();
    owner.ws.close();
    await owner.waitClosed();
    await waitUntil(() => h.registry.get(id) === undefined, 'the abandoned session to end', GRACE_MS + END_MARGIN_MS);
    expect(Date.now() - left).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect((await viewer.waitClosed()).code).toBe(CLOSE.SESSION_EXITED);
    await waitUntil(() => !processAlive(pid), 'the shell to be gone', END_MARGIN_MS);
  });

  it('viewers attaching and leaving do not restart the grace period; a writer does', async () => {
    const h = await harness();
    const { id } = await h.createSession();
    const owner = client(h, id);
    await owner.waitForMessage('hello');
    const token = await share(h, id);
    owner.ws.close();
    await owner.waitClosed();
    const left = Date.now();
    // Viewers come and go every 200 ms: on main each attach stopped the timer and each leave restarted it.
    let churning = true;
    const churn = (async () => {
      while (churning && h.registry.get(id)) {
        const v = new TermClient(h.openWs(id, token));
        await Promise.race([
          v.waitForMessage('hello', 2000).catch(() => undefined),
          v.waitClosed(2000).catch(() => undefined),
        ]);
        v.dispose();
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    cleanups.push(async () => {
      churning = false;
      await churn;
    });
    await waitUntil(
      () => h.registry.get(id) === undefined,
      'the session to end despite the viewers',
      GRACE_MS + END_MARGIN_MS,
    );
    expect(Date.now() - left).toBeLessThan(GRACE_MS + END_MARGIN_MS);

    // A writer coming back does hold a session open.
    const kept = await h.createSession();
    const w = client(h, kept.id);
    await w.waitForMessage('hello');
    await new Promise((r) => setTimeout(r, GRACE_MS + 500));
    expect(h.registry.get(kept.id)?.info().exited).toBeNull();
  });
});
