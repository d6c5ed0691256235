// The two set-up commands: `npm start` (its web build prints nothing before the one URL line) and `npm test`
// (scripts/ensure-chromium.mjs runs before Playwright: with /usr/bin/chromium hidden by a bind of /dev/null, not
// executable, in a private mount namespace, an unprivileged user is told the exact command to run).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/server.js';

const SCRIPT = path.join(REPO_ROOT, 'scripts/ensure-chromium.mjs');
const NOBODY = '65534';

/** Runs the script in a fresh mount namespace, as `uid`, with /usr/bin/chromium covered by /dev/null when `hide`. */
function runScript(hide: boolean, uid?: string) {
  const asUser = uid ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'] : [];
  // A constant shell program; the paths come in as positional arguments, never spliced into the text.
  const program = `${hide ? 'mount --bind /dev/null /usr/bin/chromium && ' : ''}exec "$@"`;
  return spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', program, 'sh', ...asUser, process.execPath, SCRIPT],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
}

describe('scripts/ensure-chromium.mjs', () => {
  it('does nothing when /usr/bin/chromium is there', () => {
    const r = runScript(false, NOBODY);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('stops an unprivileged user with the exact apt-get command when chromium is missing', () => {
    const r = runScript(true, NOBODY);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('run: sudo apt-get update && sudo apt-get install -y -q chromium');
  });
});

describe('the web build behind npm start', () => {
  it('prints nothing (no bundler warning before the URL line)', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'nsconsole-web-'));
    try {
      // The arguments scripts/build-web-if-stale.mjs passes, into a scratch directory instead of dist/web.
      const vite = path.join(REPO_ROOT, 'node_modules/vite/bin/vite.js');
      const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn', '--outDir', out, '--emptyOutDir'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.stderr + r.stdout).toBe('');
      expect(r.status).toBe(0);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 70_000);
});
