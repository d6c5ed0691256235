// `npm test` runs the e2e tests in Debian's Chromium at /usr/bin/chromium (never a downloaded browser, see
// playwright.config.ts). When it is missing: install it as root on Debian, else stop and name the command to run.
import { accessSync, constants, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const CHROMIUM = '/usr/bin/chromium';
const INSTALL = ['apt-get', 'install', '-y', '-q', 'chromium'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false; // missing or not executable: both mean "install it"
  }
}

function stop(message) {
  process.stderr.write(`ensure-chromium: ${message}\n`);
  process.exit(1);
}

function run(argv) {
  process.stderr.write(`ensure-chromium: ${argv.join(' ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.error) stop(`${argv[0]} could not run: ${r.error.message}`);
  if (r.status !== 0)
    stop(`\`${argv.join(' ')}\` failed (exit ${r.status ?? r.signal}); fix that and run npm test again`);
}

if (!executable(CHROMIUM)) {
  const debian = existsSync('/etc/debian_version');
  const root = process.getuid?.() === 0;
  if (!debian)
    stop(
      `the e2e tests need Chromium at ${CHROMIUM}; install your distribution's chromium package so that path exists, then run npm test again`,
    );
  if (!root)
    stop(`the e2e tests need Debian's Chromium at ${CHROMIUM}; run: sudo apt-get update && sudo ${INSTALL.join(' ')}`);
  process.stderr.write(`ensure-chromium: ${CHROMIUM} is missing; installing Debian's chromium\n`);
  run(['apt-get', 'update', '-q']);
  run(INSTALL);
  if (!executable(CHROMIUM)) stop(`installed chromium, but ${CHROMIUM} is still missing`);
}
