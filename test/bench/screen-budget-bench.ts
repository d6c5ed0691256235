// The replay screen's memory per session (issue #16), against the built server as its own process: a learner
// opens sessions, resizes each to the largest size the protocol allows (1000×500) and fills its scrollback with
// full-width lines. Figure: the server's RSS growth per session above that of an 80×24 session given the same fill
// (what a session costs whatever its size: pty, buffers, heap), with the default --screen-memory (the terminal is
// narrowed to the budget) against --screen-memory 4096 (no budget in reach: the size is taken as asked, as before).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { request, USER_HEADER, wsAs } from '../helpers/labs.js';
import { MAX_COLS, MAX_ROWS } from '../../shared/constants.js';
import type { Row } from './row.js';
import { steadyRss } from './rss.js';

const MB = 1024 * 1024;
const COMMAND = 'npm run bench -- screen-budget';
const SESSIONS = 8;
/** The server's default --scrollback; the fill writes FILL_FACTOR times as many screen lines. */
const SCROLLBACK_LINES = 1000;
const FILL_FACTOR = 3;
/** Larger than anything the default budget lets through, and beyond what the config accepts: nothing narrows. */
const NO_BUDGET_MIB = '4096';
const FILL_TIMEOUT_MS = 120_000;

/** One attached writer that acks everything and resolves `until(text)` once the text has arrived. */
class Filler {
  private tail = '';
  private waiters: Array<{ text: string; resolve: () => void }> = [];
  cols = 0;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d, isBinary) => {
      const bytes = Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d);
      if (!isBinary) {
        const msg = JSON.parse(bytes.toString('utf8')) as { type: string; cols?: number };
        if ((msg.type === 'hello' || msg.type === 'resized') && msg.cols) this.cols = msg.cols;
        return;
      }
      ws.send(JSON.stringify({ type: 'ack', bytes: bytes.length }));
      this.tail = (this.tail + bytes.subarray(-256).toString('latin1')).slice(-512);
      for (const w of [...this.waiters])
        if (this.tail.includes(w.text)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve();
        }
    });
  }
  until(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${text} within ${FILL_TIMEOUT_MS} ms`)), FILL_TIMEOUT_MS);
      this.waiters.push({
        text,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

async function measure(
  extra: string[],
  fillFile: string,
  size: { cols: number; rows: number },
): Promise<{ perSession: number; cols: number }> {
  const server: ServerProcess = await spawnServer(['--auth-header', USER_HEADER, ...extra]);
  const sockets: WebSocket[] = [];
  try {
    const pid = server.child.pid as number;
    const before = await steadyRss(pid);
    const as = { user: 'learner' };
    let cols = 0;
    for (let i = 0; i < SESSIONS; i++) {
      const r = await request(server.base, '/api/sessions', as, {
        method: 'POST',
        body: { target: { kind: 'host' }, cols: 80, rows: 24 },
      });
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
      const { id } = r.json<{ id: string }>();
      const ws = wsAs(server.base, `/ws/sessions/${id}`, as);
      sockets.push(ws);
      const filler = new Filler(ws);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ type: 'resize', ...size }));
      ws.send(Buffer.from(`cat ${fillFile}; echo FILLED-$((${i}+1000))\r`));
      await filler.until(`FILLED-${i + 1000}`);
      cols = filler.cols;
    }
    const after = await steadyRss(pid);
    return { perSession: (after - before) / SESSIONS, cols };
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.stop();
  }
}

export async function benchScreenBudget(): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-screen-bench-'));
  try {
    // Full-width lines (MAX_COLS characters): each fills a whole screen line at any width the session gets.
    const line = 'x'.repeat(MAX_COLS - 1);
    const fillFile = path.join(dir, 'fill.txt');
    writeFileSync(fillFile, `${line}\n`.repeat(FILL_FACTOR * (SCROLLBACK_LINES + MAX_ROWS)));
    const largest = { cols: MAX_COLS, rows: MAX_ROWS };
    const small = await measure([], fillFile, { cols: 80, rows: 24 });
    const ours = await measure([], fillFile, largest);
    const baseline = await measure(['--screen-memory', NO_BUDGET_MIB], fillFile, largest);
    const above = (m: { perSession: number }) => m.perSession - small.perSession;
    return [
      {
        figure: `${SESSIONS} sessions of one user resized to ${MAX_COLS}×${MAX_ROWS}, scrollback full (--scrollback ${SCROLLBACK_LINES}): server RSS growth per session above an 80×24 session's (${(small.perSession / MB).toFixed(1)} MB) (terminal narrowed to ${ours.cols} columns; baseline --screen-memory ${NO_BUDGET_MIB}, ${baseline.cols} columns)`,
        ours: `${(above(ours) / MB).toFixed(1)} MB`,
        baseline: `${(above(baseline) / MB).toFixed(1)} MB`,
        ratio: above(ours) / above(baseline),
        target: '≤ 8 MiB (the cell budget)',
        met: above(ours) <= 8 * MB,
        command: COMMAND,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
