// What a person sees: the real page in Debian's Chromium against the real server process.
//  - the first load (browser-first-load.ts): bytes transferred, largest chunk, time to the first prompt
//  - `seq 1 2000000` rendered by the page (MB/s of terminal output through ws + xterm + acks)
//  - a coloured flood (`ls --color=always -C -R /usr`, repeated) rendered by the page, beside it
//  - Ctrl-C after 2 s of `yes` until the next command's output shows
import { chromium, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnServer } from '../helpers/process.js';
import { benchFirstLoad } from './browser-first-load.js';
import { median, type Row } from './row.js';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const RUNS = 3;
/** ttyd 1.7 on this kind of machine in headless Chromium, as measured when the issue was filed. */
const TTYD_SEQ_MBPS = '2.0–3.2 MB/s';
const TTYD_CTRL_C = '4.7–6.9 s';

/** The coloured flood: `ls` of /usr at least this big (repeated), about the size of `seq 1 2000000`. */
const COLOUR_FLOOD_MIN_BYTES = 14 * 1000 * 1000;
/** `ls -C` width: columns as a person's 100-column terminal shows them (the page's pane is ~90 wide). */
const COLOUR_LS_WIDTH = 100;

/**
 * A file of real coloured output: `ls --color=always -C -R /usr` (SGR runs around every name, tab-aligned
 * columns) repeated to COLOUR_FLOOD_MIN_BYTES. Returns the file, the bytes `cat` of it writes through a tty
 * (ONLCR adds a \r per line) and its teardown.
 */
function colourFloodFile(): { file: string; ttyBytes: number; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-bench-colour-'));
  const file = path.join(dir, 'ls-color-usr.txt');
  // ls exits 2 on an unreadable directory and still prints the rest: that output is what we want.
  const once = (() => {
    try {
      return execFileSync('ls', ['--color=always', '-C', `-w${COLOUR_LS_WIDTH}`, '-R', '/usr'], {
        maxBuffer: 256 * 1024 * 1024,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch (err) {
      const out = (err as { stdout?: Buffer }).stdout;
      if (out && out.length > 0) return out;
      throw err;
    }
  })();
  const copies = Math.max(1, Math.ceil(COLOUR_FLOOD_MIN_BYTES / once.length));
  writeFileSync(file, Buffer.concat(Array.from({ length: copies }, () => once)));
  let lines = 0;
  for (const b of once) if (b === 0x0a) lines++;
  return {
    file,
    ttyBytes: statSync(file).size + lines * copies,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Bytes `seq 1 N` writes through a tty with ONLCR (each \n becomes \r\n). */
function seqBytes(n: number): number {
  let bytes = 0;
  for (let digits = 1, lo = 1; lo <= n; digits++, lo *= 10) bytes += (Math.min(n, lo * 10 - 1) - lo + 1) * (digits + 2);
  return bytes;
}

async function typeInto(page: Page, text: string): Promise<void> {
  await page.evaluate(
    (t) =>
      (
        window as unknown as { nsconsole: { terminals: { outside: { input(s: string): void } } } }
      ).nsconsole.terminals.outside.input(t),
    text,
  );
}

/** Resolves when some line of the Outside terminal's active buffer equals `line` exactly (trimmed). */
async function waitForLine(page: Page, line: string, timeout = 120_000): Promise<void> {
  await page.waitForFunction(
    (want) => {
      const term = (
        window as unknown as {
          nsconsole: {
            terminals: {
              outside: {
                buffer: {
                  active: {
                    length: number;
                    getLine(i: number): { translateToString(trim: boolean): string } | undefined;
                  };
                };
              };
            };
          };
        }
      ).nsconsole.terminals.outside;
      const buf = term.buffer.active;
      for (let i = buf.length - 1; i >= Math.max(0, buf.length - 200); i--)
        if (buf.getLine(i)?.translateToString(true).trim() === want) return true;
      return false;
    },
    line,
    { timeout, polling: 'raf' },
  );
}

export async function benchBrowser(): Promise<Row[]> {
  const server = await spawnServer(['--session-grace', '5']);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const colour = colourFloodFile();
  try {
    const firstLoad = await benchFirstLoad(browser, server.url.href);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(server.url.href);
    // Typed input before the shell's socket is open would be lost: wait until the pane says connected.
    await page.locator('section[data-pane="outside"][data-status="connected"]').waitFor({ timeout: 30_000 });
    await typeInto(page, 'echo ready-$((6*7))\r');
    await waitForLine(page, 'ready-42', 30_000);

    const N = 2_000_000;
    const mbps: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await typeInto(page, 'clear\r');
      const t0 = Date.now();
      await typeInto(page, `seq 1 ${N}; echo seq-done-$((${i}+100))\r`);
      await waitForLine(page, `seq-done-${i + 100}`);
      mbps.push(seqBytes(N) / 1e6 / ((Date.now() - t0) / 1000));
    }

    const colourMbps: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await typeInto(page, 'clear\r');
      const t0 = Date.now();
      await typeInto(page, `cat ${colour.file}; echo colour-done-$((${i}+300))\r`);
      await waitForLine(page, `colour-done-${i + 300}`);
      colourMbps.push(colour.ttyBytes / 1e6 / ((Date.now() - t0) / 1000));
    }

    const ctrlC: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await typeInto(page, 'yes\r');
      await page.waitForTimeout(2000); // the scenario itself: 2 s of `yes` flooding the page
      const t0 = Date.now();
      await typeInto(page, '\x03');
      await typeInto(page, `echo after-yes-$((${i}+200))\r`);
      await waitForLine(page, `after-yes-${i + 200}`, 60_000);
      ctrlC.push(Date.now() - t0);
    }
    const seqRate = median(mbps);
    const colourRate = median(colourMbps);
    const ctrlCms = median(ctrlC);
    return [
      ...firstLoad,
      {
        figure: '`seq 1 2000000` rendered by the page in headless Chromium',
        ours: `${seqRate.toFixed(1)} MB/s`,
        baseline: `ttyd ${TTYD_SEQ_MBPS}`,
        ratio: seqRate / 6,
        target: '≥ 6 MB/s',
        met: seqRate >= 6,
        command: 'npm run bench -- browser',
      },
      {
        figure: `coloured flood rendered by the page: \`cat\` of \`ls --color=always -C -R /usr\` repeated, ${(colour.ttyBytes / 1e6).toFixed(1)} MB (median of ${RUNS})`,
        ours: `${colourRate.toFixed(1)} MB/s`,
        baseline: `plain \`seq\` ${seqRate.toFixed(1)} MB/s`,
        ratio: colourRate / 6,
        target: '≥ 6 MB/s',
        met: colourRate >= 6,
        command: 'npm run bench -- browser',
      },
      {
        figure: 'Ctrl-C after 2 s of `yes` until the next command’s output shows',
        ours: `${ctrlCms.toFixed(0)} ms`,
        baseline: `ttyd ${TTYD_CTRL_C}`,
        ratio: ctrlCms / 200,
        target: '≤ 200 ms',
        met: ctrlCms <= 200,
        command: 'npm run bench -- browser',
      },
    ];
  } finally {
    await browser.close();
    await server.stop();
    colour.cleanup();
  }
}
