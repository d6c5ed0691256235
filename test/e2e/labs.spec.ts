// Labs (issue #12): a learner behind the identity proxy sees their name and no "Sessions"; the admin's
// "Sessions" list shows the learner's shell with its owner, and "Watch" shows it live, read-only.
import http from 'node:http';
import WebSocket from 'ws';
import { test, expect } from './fixtures.js';
import { terminalText, waitForOutput } from './console.js';

const USER_HEADER = 'x-forwarded-user';
test.use({ serverArgs: ['--auth-header', USER_HEADER] });

/** The learner's shell, made and typed into the way a proxied browser would (header from 127.0.0.1). */
function createAs(origin: string, user: string): Promise<{ id: string }> {
  const body = JSON.stringify({ target: { kind: 'host' }, cols: 80, rows: 24 });
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${origin}/api/sessions`,
      {
        method: 'POST',
        headers: {
          [USER_HEADER]: user,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          res.statusCode === 201
            ? resolve(JSON.parse(text) as { id: string })
            : reject(new Error(`${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('the admin watches a learner’s shell from the Sessions list, read-only', async ({ browser, page, server }) => {
  // The learner, in their own browser behind the proxy: their name in the header, no Sessions button.
  const learnerContext = await browser.newContext({ extraHTTPHeaders: { [USER_HEADER]: 'alice' } });
  try {
    const learnerPage = await learnerContext.newPage();
    await learnerPage.goto(server.origin + '/');
    await expect(learnerPage.getByTestId('user-name')).toHaveText('alice');
    await expect(learnerPage.getByRole('button', { name: 'Sessions' })).toHaveCount(0);
  } finally {
    await learnerContext.close();
  }

  const { id } = await createAs(server.origin, 'alice');
  const learner = new WebSocket(`${server.origin.replace('http', 'ws')}/ws/sessions/${id}`, ['nsconsole'], {
    headers: { [USER_HEADER]: 'alice' },
  });
  let learnerOut = '';
  learner.on('message', (d, bin) => {
    if (bin) learnerOut += d.toString();
  });
  try {
    await new Promise((r, j) => {
      learner.once('open', r);
      learner.once('error', j);
    });
    learner.send(Buffer.from('echo learner-$((6*7))\r'));

    // The admin (the token), in the console.
    const sent = { binary: 0 };
    page.on('websocket', (ws) => {
      if (ws.url().includes(`/ws/sessions/${id}`))
        ws.on('framesent', (f) => typeof f.payload !== 'string' && sent.binary++);
    });
    await page.goto(server.url);
    await expect(page.getByTestId('user-name')).toHaveText('token holder');
    await page.getByRole('button', { name: 'Sessions' }).click();
    const dialog = page.getByRole('dialog', { name: 'Sessions' });
    const row = dialog.getByRole('table', { name: 'Sessions' }).locator(`tr[data-session="${id}"]`);
    await expect(row).toContainText('alice');
    await row.getByRole('button', { name: 'Watch' }).click();
    const watched = dialog.getByRole('region', { name: 'Watched terminal (read-only)' });
    await expect(watched).toBeVisible();
    await waitForOutput(page, 'watched', /learner-42/);

    // Typing in the watched terminal sends nothing; the learner's next line still shows up live.
    await watched.click();
    await page.keyboard.type('echo admin-typed\n');
    learner.send(Buffer.from('echo learner-$((7*8))\r'));
    await waitForOutput(page, 'watched', /learner-56/);
    expect(sent.binary).toBe(0);
    expect(learnerOut).not.toContain('admin-typed');
    expect(await terminalText(page, 'watched')).not.toContain('admin-typed');
  } finally {
    learner.terminate();
  }
});
