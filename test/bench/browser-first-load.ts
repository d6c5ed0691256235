// The page's first load (issue #11), in Debian's Chromium with an empty cache each time: bytes transferred (as
// the server sends them: compressed) against the same files' decoded size, the largest script, and the time
// from navigation to the Outside shell's first prompt, on loopback and over an emulated remote link.
import type { Browser, Request } from '@playwright/test';
import { median, type Row } from './row.js';

const RUNS = 3;
const COMMAND = 'npm run bench -- browser';
/** The limit: no chunk this big on the first load. */
const MAX_CHUNK_BYTES = 500 * 1000;
/** A lab machine across the internet: 10 Mbit/s both ways, 40 ms round trip (Chromium's network emulation). */
const REMOTE = { latencyMs: 40, bitsPerSecond: 10e6 };
/** What makes up the page itself (API calls and sockets come after it and are not page weight). */
const PAGE_RESOURCES = new Set(['document', 'script', 'stylesheet', 'image', 'font']);

interface Load {
  /** ms from navigation start to the first prompt in the Outside pane */
  promptMs: number;
  transferred: number;
  decoded: number;
  files: number;
  largestScript: { name: string; bytes: number };
}

async function oneLoad(browser: Browser, url: string, remote: boolean): Promise<Load> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const page = await context.newPage();
    if (remote) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: REMOTE.latencyMs,
        downloadThroughput: REMOTE.bitsPerSecond / 8,
        uploadThroughput: REMOTE.bitsPerSecond / 8,
      });
    }
    const pending: Promise<{ name: string; type: string; transferred: number; decoded: number }>[] = [];
    const measure = async (req: Request) => {
      const res = await req.response();
      const sizes = await req.sizes();
      const body = res ? await res.body() : Buffer.alloc(0);
      return {
        name: new URL(req.url()).pathname,
        type: req.resourceType(),
        transferred: sizes.responseHeadersSize + sizes.responseBodySize,
        decoded: body.length,
      };
    };
    page.on('requestfinished', (req) => {
      if (PAGE_RESOURCES.has(req.resourceType())) pending.push(measure(req));
    });
    await page.goto(url);
    const handle = await page.waitForFunction(
      () => {
        const term = (
          window as unknown as {
            nsconsole?: {
              terminals: {
                outside?: {
                  buffer: {
                    active: {
                      length: number;
                      getLine(i: number): { translateToString(t: boolean): string } | undefined;
                    };
                  };
                };
              };
            };
          }
        ).nsconsole?.terminals.outside;
        if (!term) return false;
        const buf = term.buffer.active;
        for (let i = buf.length - 1; i >= 0; i--) {
          const line = buf.getLine(i)?.translateToString(true).trimEnd() ?? '';
          if (line) return /[#$]$/.test(line) ? performance.now() : false;
        }
        return false;
      },
      undefined,
      { timeout: 60_000, polling: 'raf' },
    );
    const promptMs = (await handle.jsonValue()) as number;
    await page.waitForLoadState('networkidle'); // every file of the page has finished (sockets do not count)
    const all = await Promise.all(pending);
    const scripts = all.filter((r) => r.type === 'script').sort((a, b) => b.decoded - a.decoded);
    return {
      promptMs,
      transferred: all.reduce((n, r) => n + r.transferred, 0),
      decoded: all.reduce((n, r) => n + r.decoded, 0),
      files: all.length,
      largestScript: { name: scripts[0]?.name.split('/').pop() ?? '-', bytes: scripts[0]?.decoded ?? 0 },
    };
  } finally {
    await context.close();
  }
}

const kb = (bytes: number) => `${(bytes / 1000).toFixed(0)} kB`;

export async function benchFirstLoad(browser: Browser, url: string): Promise<Row[]> {
  await oneLoad(browser, url, false); // warm-up: the server's first page and first shells, Chromium's own start
  const local: Load[] = [];
  const remote: Load[] = [];
  for (let i = 0; i < RUNS; i++) {
    local.push(await oneLoad(browser, url, false));
    remote.push(await oneLoad(browser, url, true));
  }
  const first = local[0] as Load;
  const localMs = median(local.map((l) => l.promptMs));
  const remoteMs = median(remote.map((l) => l.promptMs));
  return [
    {
      figure: `first load: the page's files transferred, empty cache (${first.files} files: HTML, scripts, styles, icon)`,
      ours: kb(first.transferred),
      baseline: `decoded ${kb(first.decoded)}`,
      ratio: first.transferred / first.decoded,
      target: '(figure)',
      command: COMMAND,
    },
    {
      figure: 'first load: largest script (decoded)',
      ours: `${kb(first.largestScript.bytes)} (${first.largestScript.name})`,
      baseline: `limit ${kb(MAX_CHUNK_BYTES)}`,
      ratio: first.largestScript.bytes / MAX_CHUNK_BYTES,
      target: '< 500 kB',
      met: first.largestScript.bytes < MAX_CHUNK_BYTES,
      command: COMMAND,
    },
    {
      figure: `first load → first prompt in the Outside pane, empty cache, loopback (median of ${RUNS})`,
      ours: `${localMs.toFixed(0)} ms`,
      baseline: `over ${REMOTE.bitsPerSecond / 1e6} Mbit/s, ${REMOTE.latencyMs} ms RTT: ${remoteMs.toFixed(0)} ms`,
      ratio: localMs / remoteMs,
      target: '(figure)',
      command: COMMAND,
    },
  ];
}
