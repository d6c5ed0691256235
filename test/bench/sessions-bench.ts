// Memory and responsiveness with many sessions (issue #11, item 4), against the built server as its own process:
//  - 100 idle sessions, each with its scrollback full (coloured 120-column lines past the server's scrollback
//    limit): the server's RSS growth per session, against one idle session, once they have been idle long enough
//    for the replay mirror to freeze their scrollback (FREEZE_IDLE_MS), and right after the fill for comparison;
//  - 100 sessions each running a coloured flood at once, every client acking as it reads: a legitimate user's
//    keystroke echo p99 (typing 50 keys/s into a raw `cat`), against the same user with nothing else running.
// The clients are lean (terminal-bench-client.ts: they count and ack, never parse). The flooding crowd runs in a
// child process (sessions-crowd-child.ts), so that the user's echoes are not timed through its event loop; it
// still runs on the same 2 CPUs as the server and takes CPU from it, as a real crowd's browsers would not.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { BenchClient } from './terminal-bench-client.js';
import { median, percentile, type Row } from './row.js';
import { rss, steadyRss } from './rss.js';
import { FREEZE_IDLE_MS } from '../../server/terminals/mirror/mirror-host.js';

const MB = 1024 * 1024;
const COMMAND = 'npm run bench -- sessions';
const SESSIONS = 100;
/** The server's default (--scrollback); the fill writes FILL_FACTOR times as many lines. */
const SCROLLBACK_LINES = 1000;
const FILL_FACTOR = 3;
/** The size BenchClient opens its sessions at. */
const COLS = 120;
const ROWS = 40;
/**
 * What the replay mirror's headless xterm holds for a full buffer while the session is busy, whatever the lines
 * contain: every line of screen and scrollback is a Uint32Array of 3 words (12 bytes) per cell at the terminal's
 * width. Idle, the scrollback's cells are compressed (scrollback-freezer.ts).
 */
const MIRROR_CELL_BYTES = (SCROLLBACK_LINES + ROWS) * COLS * 12;
/** Before the baseline reading: time for the heaps to settle after start-up. */
const SETTLE_MS = 5000;
/**
 * After the last fill, RSS is read once a second until it has not fallen by more than SETTLED_FRACTION over the
 * last SETTLED_SAMPLES readings (at most SETTLE_MAX_MS): the mirror freezes the scrollback FREEZE_IDLE_MS after the
 * last output and hands the memory back a second later, and V8's memory reducer gives back the heap pages it no
 * longer needs only 10–20 s later (measured per session: 3.2 MB busy, 1.5 MB frozen, 0.7 MB once V8 shrank).
 */
const SETTLED_SAMPLES = 20;
const SETTLED_FRACTION = 0.02;
const SETTLE_MAX_MS = 90_000;
/** A fast typist, as in the fairness bench: one key every 20 ms, never before the last one echoed. */
const KEY_INTERVAL_MS = 20;
const ECHO_WINDOW_MS = 10_000;
/** A key not echoed by then counts as this late (a frozen server) and typing goes on. */
const KEY_TIMEOUT_MS = 10_000;
/** Time for the floods to get going before the echo window starts. */
const FLOOD_RAMP_MS = 2000;
const FILL_TIMEOUT_MS = 120_000;

const SGR_COLOURS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/**
 * Coloured lines a full 120 columns wide (what costs the most in a screen buffer): an SGR colour, a bold run,
 * text, a reset; `lines` of them.
 */
function colouredLines(lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const c = SGR_COLOURS[i % SGR_COLOURS.length] as number;
    const label = `line ${String(i).padStart(6, '0')} `;
    const body = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(4).slice(0, COLS - label.length - 20);
    out.push(`\x1b[1;${c}m${label}\x1b[0m\x1b[${c}m${body}\x1b[0m \x1b[2mcoloured-tail\x1b[0m`);
  }
  return out.join('\n') + '\n';
}

/** CPU ticks (utime + stime) of the server's main thread (tid = pid) and of all its other threads together. */
function threadTicks(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main, others }; // Swallow: the server is gone; the row shows 0%
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      if (tid === String(pid)) main += ticks;
      else others += ticks;
    } catch {
      // Swallow: the thread ended between the listing and the read
    }
  }
  return { main, others };
}
/** USER_HZ: /proc's tick unit on Linux. */
const TICKS_PER_SECOND = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `text` arrives on the client's output (checked over chunk boundaries). */
function waitForText(c: BenchClient, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let tail = '';
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${JSON.stringify(text)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = c.echoPort().onData((bytes) => {
      tail = (tail + bytes.subarray(-512).toString('latin1')).slice(-1024);
      if (!tail.includes(text)) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Opens `n` sessions (the client waits out the server's create-rate limit) and waits for their shells. */
async function openSessions(server: ServerProcess, n: number): Promise<BenchClient[]> {
  const clients: BenchClient[] = [];
  try {
    for (let i = 0; i < n; i++) clients.push(await BenchClient.open(server));
    await Promise.all(clients.map((c) => c.ready()));
  } catch (err) {
    for (const c of clients) c.close();
    throw err;
  }
  return clients;
}

/** Paced echoes for `ms` into a raw `cat`: a key every KEY_INTERVAL_MS, each round trip timed. */
async function echoes(c: BenchClient, ms: number): Promise<number[]> {
  const samples: number[] = [];
  let waiting: (() => void) | undefined;
  const off = c.echoPort().onData(() => waiting?.());
  const end = performance.now() + ms;
  try {
    while (performance.now() < end) {
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const echoed = await new Promise<boolean>((resolve) => {
        waiting = () => resolve(true);
        timer = setTimeout(() => resolve(false), KEY_TIMEOUT_MS);
        c.type('x');
      });
      clearTimeout(timer);
      samples.push(echoed ? performance.now() - t0 : KEY_TIMEOUT_MS);
      await sleep(Math.max(0, t0 + KEY_INTERVAL_MS - performance.now()));
    }
  } finally {
    off();
  }
  return samples;
}

const mb = (x: number) => `${(x / MB).toFixed(2)} MB`;
const ms = (x: number) => `${x.toFixed(1)} ms`;

/** RSS once it stops falling (see SETTLED_SAMPLES): the median of the last readings. */
async function settledRss(pid: number): Promise<number> {
  const xs: number[] = [];
  const end = performance.now() + SETTLE_MAX_MS;
  for (;;) {
    xs.push(rss(pid));
    const last = xs.slice(-SETTLED_SAMPLES);
    const settled =
      last.length === SETTLED_SAMPLES &&
      (last[0] as number) - Math.min(...last) <= SETTLED_FRACTION * (last[0] as number);
    if (settled || performance.now() > end) return median(last.slice(-5));
    await sleep(1000);
  }
}

async function idleSessionsRows(server: ServerProcess, fillFile: string): Promise<Row[]> {
  const pid = server.child.pid!;
  const first = await openSessions(server, 1);
  const clients: BenchClient[] = [...first];
  try {
    await sleep(SETTLE_MS);
    const base = await steadyRss(pid);
    clients.push(...(await openSessions(server, SESSIONS)));
    const opened = await steadyRss(pid);
    const fills = clients.slice(1).map((c, i) => {
      const done = waitForText(c, `FILL-${i + 1000}-DONE`, FILL_TIMEOUT_MS);
      c.type(`cat ${fillFile}; echo FILL-$((${i}+1000))-DONE\r`);
      return done;
    });
    await Promise.all(fills);
    const busy = rss(pid); // one sample: the median of several would take longer than FREEZE_IDLE_MS
    const t0 = performance.now();
    await sleep(FREEZE_IDLE_MS);
    const filled = await settledRss(pid);
    const settledS = (performance.now() - t0) / 1000;
    const perSession = (filled - base) / SESSIONS;
    return [
      {
        figure: `${SESSIONS} idle sessions, scrollback full (${FILL_FACTOR * SCROLLBACK_LINES} coloured ${COLS}-column lines each, --scrollback ${SCROLLBACK_LINES}): server RSS growth per session`,
        ours: mb(perSession),
        baseline: `right after the fill (scrollback not frozen yet): ${mb((busy - base) / SESSIONS)}; settled ${settledS.toFixed(0)} s after it; just opened (prompt only): ${mb((opened - base) / SESSIONS)}; the mirror's cells, unfrozen: ${mb(MIRROR_CELL_BYTES)}; 1 session: ${mb(base)} total`,
        ratio: perSession / (2 * MB),
        target: '≤ 2 MB',
        met: perSession <= 2 * MB,
        command: COMMAND,
      },
    ];
  } finally {
    for (const c of clients) c.close();
  }
}

/** The crowd's child process: resolves once all its sessions are flooding; `stop()` ends it with its count. */
async function startCrowd(
  server: ServerProcess,
  n: number,
  command: string,
): Promise<{ stop(): Promise<{ bytes: number; ms: number }>; kill(): void }> {
  const script = fileURLToPath(new URL('./sessions-crowd-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, server.base, server.token, String(n), command], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const next = () =>
    new Promise<Record<string, number | boolean>>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the crowd exited (${code}) before it answered`));
      child.once('exit', onExit);
      lines.once('line', (line) => {
        child.off('exit', onExit);
        resolve(JSON.parse(line) as Record<string, number | boolean>);
      });
    });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    await next();
  } catch (err) {
    kill();
    throw err;
  }
  return {
    async stop() {
      const answer = next();
      child.stdin.write('stop\n');
      const { bytes, ms } = await answer;
      return { bytes: Number(bytes), ms: Number(ms) };
    },
    kill,
  };
}

async function floodRows(server: ServerProcess, floodFile: string): Promise<Row[]> {
  const user = (await openSessions(server, 1))[0] as BenchClient;
  let crowd: Awaited<ReturnType<typeof startCrowd>> | undefined;
  try {
    await user.startRawCat();
    await echoes(user, 2000); // warm-up
    const idle = await echoes(user, ECHO_WINDOW_MS / 2);
    crowd = await startCrowd(server, SESSIONS, `while :; do cat ${floodFile}; done`);
    await sleep(FLOOD_RAMP_MS);
    const cpu0 = threadTicks(server.child.pid!);
    const w0 = performance.now();
    const busy = await echoes(user, ECHO_WINDOW_MS);
    const cpu1 = threadTicks(server.child.pid!);
    const seconds = (performance.now() - w0) / 1000;
    const share = (ticks: number) => `${((100 * ticks) / TICKS_PER_SECOND / seconds).toFixed(0)}%`;
    const flooded = await crowd.stop();
    const rate = flooded.bytes / MB / (flooded.ms / 1000);
    const [idle99, busy99, busy50] = [percentile(idle, 99), percentile(busy, 99), percentile(busy, 50)];
    return [
      {
        figure: `${SESSIONS} sessions each running a coloured flood at once: a user's keystroke echo p99 (p50 ${ms(busy50)}; floods delivered ${rate.toFixed(1)} MB/s in all; server CPU: main thread ${share(cpu1.main - cpu0.main)}, other threads ${share(cpu1.others - cpu0.others)})`,
        ours: ms(busy99),
        baseline: `nothing else running ${ms(idle99)}`,
        ratio: busy99 / idle99,
        target: '≤ 20 ms',
        met: busy99 <= 20,
        command: COMMAND,
      },
    ];
  } finally {
    crowd?.kill();
    user.close();
  }
}

export async function benchSessions(): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-bench-sessions-'));
  const fillFile = path.join(dir, 'fill.txt');
  writeFileSync(fillFile, colouredLines(FILL_FACTOR * SCROLLBACK_LINES));
  // The flood: the same kind of lines, ~1 MB a round, `cat` in a loop.
  const floodFile = path.join(dir, 'flood.txt');
  writeFileSync(floodFile, colouredLines(8000));
  const args = [
    '--max-sessions',
    String(2 * SESSIONS + 10),
    '--session-grace',
    '1',
    '--scrollback',
    String(SCROLLBACK_LINES),
  ];
  const rows: Row[] = [];
  try {
    for (const [name, run] of [
      ['idle', (s: ServerProcess) => idleSessionsRows(s, fillFile)],
      ['flood', (s: ServerProcess) => floodRows(s, floodFile)],
    ] as const) {
      const only = process.env.SESSIONS_ONLY; // `idle` or `flood`: one half (the other takes a minute or two)
      if (only && only !== name) continue;
      process.stderr.write(`bench: sessions: ${name}…\n`);
      const server = await spawnServer(args); // a fresh server each: the first part's heap must not count twice
      try {
        rows.push(...(await run(server)));
      } finally {
        await server.stop();
      }
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
