import { defineConfig } from '@playwright/test';

// End-to-end tests drive the real server (spawned per test by test/e2e/fixtures.ts) with Debian's Chromium.
// Never `npx playwright install`: the browser comes from the OS package at /usr/bin/chromium.
export default defineConfig({
  testDir: 'test/e2e',
  outputDir: 'test-results',
  workers: 1, // tests create real namespaces and mounts on this machine: one at a time
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    viewport: { width: 1440, height: 900 },
    screenshot: 'on', // a final screenshot of every test is kept under test-results/
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
