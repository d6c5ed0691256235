// The owner's credential stays with our origin (issue #15.3): cookies are scoped to a host, not a port, so the
// old `nsconsole_token` cookie went to every other service on 127.0.0.1. After logging in at `/?token=`, a page
// of another local server (another port, same host) must receive nothing that authenticates to nsconsole, no
// URL the browser requests may carry the token after the login, and the console still works after a reload and
// in a second tab (the token is kept in origin-scoped storage).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from '@playwright/test';
import { test, expect } from './fixtures.js';
import { openConsole, reloadConsole, typeLine, waitForOutput } from './console.js';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** A tiny "someone else's" web service on 127.0.0.1 at another port, recording what each request brings. */
async function otherService(): Promise<{ origin: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><title>other</title><p>another local service</p>');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}

/** Every URL and Referer the page sends from now on, WebSocket URLs included. */
function recordRequests(page: Page): { urls: string[]; referers: string[] } {
  const out = { urls: [] as string[], referers: [] as string[] };
  page.on('request', (r) => {
    out.urls.push(r.url());
    const referer = r.headers()['referer'];
    if (referer) out.referers.push(referer);
  });
  page.on('websocket', (ws) => out.urls.push(ws.url()));
  return out;
}

test.describe('owner credential', () => {
  test('after login, another port on the same host receives nothing that authenticates; reload and a second tab still work', async ({
    page,
    server,
    context,
  }) => {
    const other = await otherService();
    try {
      const secrets = [
        server.token,
        Buffer.from(server.token).toString('base64url'),
        encodeURIComponent(server.token),
        'nsconsole_token',
      ];
      // A browser logged in by an older version still holds the host-wide cookie: it must be expired too.
      await context.addCookies([{ name: 'nsconsole_token', value: server.token, domain: '127.0.0.1', path: '/' }]);

      const sent = recordRequests(page);
      await openConsole(page, server.url);
      await expect(page).toHaveURL(`${server.origin}/`); // the token left the address bar
      await typeLine(page, 'outside', 'echo logged-in-$((40+2))');
      await waitForOutput(page, 'outside', /^logged-in-42$/m);

      await page.goto(`${other.origin}/collect`);
      await expect(page.getByText('another local service')).toBeVisible();
      expect(other.seen.length).toBeGreaterThan(0);
      for (const req of other.seen) {
        expect(req.headers.cookie, `Cookie sent to ${other.origin}${req.url}`).toBeUndefined();
        expect(req.headers.authorization).toBeUndefined();
        const all = JSON.stringify(req);
        for (const s of secrets) expect(all, `a request to the other service carries ${s}`).not.toContain(s);
      }
      // Nor can the other origin's script find it: its storage and cookies are its own.
      const visible = await page.evaluate(() =>
        JSON.stringify({ cookie: document.cookie, local: { ...localStorage }, session: { ...sessionStorage } }),
      );
      for (const s of secrets) expect(visible).not.toContain(s);

      // Only the login navigation itself carried the token; no later URL (REST, WebSocket, assets) nor any Referer.
      const loginUrls = sent.urls.filter((u) => u.includes(server.token));
      expect(loginUrls).toEqual([server.url]);
      for (const r of sent.referers) for (const s of secrets) expect(r).not.toContain(s);

      // Back on our origin without the token, then a reload: still logged in, the same shells work.
      await page.goBack();
      await expect(page).toHaveURL(`${server.origin}/`);
      await reloadConsole(page);
      await typeLine(page, 'outside', 'echo after-reload-$((6*7))');
      await waitForOutput(page, 'outside', /^after-reload-42$/m);

      // A second tab of the same origin, opened without the token, is logged in too.
      const second = await context.newPage();
      await openConsole(second, `${server.origin}/`);
      await typeLine(second, 'outside', 'echo second-tab-$((6*7))');
      await waitForOutput(second, 'outside', /^second-tab-42$/m);
      const cookies = await context.cookies(server.origin);
      expect(
        cookies.filter((c) => c.name === 'nsconsole_token'),
        'the legacy cookie was expired',
      ).toEqual([]);
      await second.close();
    } finally {
      await other.close();
    }
  });
});
