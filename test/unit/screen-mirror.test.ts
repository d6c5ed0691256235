// The replay mirror runs its headless terminals in a worker: the snapshot it hands over plus the events that
// follow must reproduce exactly what a client that saw the whole stream shows, and the worker must go away.
import { afterEach, describe, expect, it } from 'vitest';
import { MirrorHost, mirrorWorkerUrl } from '../../server/terminals/mirror/mirror-host.js';
import {
  ScreenMirror,
  SNAPSHOT_BOUNDARY_WAIT_MS,
  type ScreenSnapshot,
} from '../../server/terminals/mirror/screen-mirror.js';
import { waitUntil } from '../helpers/proc.js';
import { renderTerminal, replayOf, type TerminalEvent } from '../helpers/render-terminal.js';

const render = (events: TerminalEvent[], cols = 80, rows = 24, scrollback = 1000): Promise<string> =>
  renderTerminal(events, { cols, rows, scrollback });
const replayed = replayOf;

const snapshot = (m: ScreenMirror) => new Promise<ScreenSnapshot>((resolve) => m.requestSnapshot(resolve));

let host: MirrorHost;
afterEach(() => host?.dispose());

describe('the mirror worker', () => {
  it('runs from its compiled module, not from source text (under vitest: the build of the current sources)', () => {
    const url = mirrorWorkerUrl();
    expect(url.protocol).toBe('file:');
    expect(url.pathname).toMatch(/\/dist\/server\/terminals\/mirror\/mirror-worker\.js$/);
  });
});

describe('ScreenMirror', () => {
  it('hands over a screen and exactly the events after it, mid-stream', async () => {
    host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
    const m = new ScreenMirror({ cols: 80, rows: 24, scrollback: 1000, host, onProgress: () => {} });
    const stream: Array<Buffer | { cols: number; rows: number }> = [];
    let written = 0;
    let pending: ReturnType<typeof snapshot> | undefined;
    for (let i = 0; i < 400; i++) {
      if (i === 150) pending = snapshot(m); // asked for while output keeps coming
      const b = Buffer.from(`\x1b[3${i % 8}mline ${i} é€😀\x1b[0m\r\n`);
      m.write(b);
      stream.push(b);
      written += b.length;
      if (i === 200) {
        m.resize(60, 20);
        stream.push({ cols: 60, rows: 20 });
      }
    }
    const s = await (pending as ReturnType<typeof snapshot>);
    const followingBytes = s.following.reduce((n, e) => n + (e.kind === 'output' ? e.bytes.length : 0), 0);
    expect(s.seq + followingBytes).toBe(written);
    expect(s.following.length).toBeGreaterThan(0); // the cut really was mid-stream
    expect(await render(replayed(s), s.cols, s.rows)).toBe(await render(stream));
    m.dispose();
  });

  it('waits for a clean cut, then settles for any after the wait', async () => {
    host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
    const m = new ScreenMirror({ cols: 80, rows: 24, scrollback: 100, host, onProgress: () => {} });
    m.write(Buffer.from('hello \x1b[3')); // stops inside a CSI sequence
    const t0 = performance.now();
    const s = await snapshot(m);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(SNAPSHOT_BOUNDARY_WAIT_MS - 5);
    expect(s.seq).toBe(9);
    m.write(Buffer.from('1mred'));
    const clean = await snapshot(m);
    expect(clean.seq).toBe(14);
    expect(clean.screen.toString()).toContain('red');
    m.dispose();
  });

  it('tells waiting mirrors when the host is disposed, and the worker does not outlive it', async () => {
    host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
    const m = new ScreenMirror({ cols: 80, rows: 24, scrollback: 100, host, onProgress: () => {} });
    m.write(Buffer.from('abc\x1b['));
    const pending = snapshot(m);
    host.dispose();
    const s = await pending;
    expect(s.following).toEqual([]);
    expect(m.backlogBytes).toBe(0);
    expect((host as unknown as { worker: unknown }).worker).toBeNull();
  });

  describe('skipping what a flood scrolls away (flood-cut.ts) gives the screen a full parse gives', () => {
    const small = { cols: 40, rows: 10, scrollback: 20 };
    /** Each part reaches the worker as its own batch, parsed before the next one is written. */
    async function viaMirror(parts: string[]): Promise<ScreenSnapshot> {
      host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
      const m = new ScreenMirror({ ...small, host, onProgress: () => {} });
      for (const p of parts) {
        m.write(Buffer.from(p));
        await waitUntil(() => m.backlogBytes === 0, 'the mirror to catch up');
      }
      const snap = await snapshot(m);
      m.dispose();
      return snap;
    }
    const full = (parts: string[]) =>
      render(
        parts.map((p) => Buffer.from(p)),
        small.cols,
        small.rows,
        small.scrollback,
      );

    it.each([
      [
        'a flood after a batch that ended inside an escape sequence',
        ['hello\r\n\x1b[3', '1m' + 'red line\r\n'.repeat(100)],
      ],
      [
        'bare line feeds (stty -onlcr) after a CR LF, the cursor mid-line before',
        ['x'.repeat(17), 'head\r\n' + 'abc\n'.repeat(100)],
      ],
      [
        'a long flood in one batch, after colours and a partial line',
        ['\x1b[32mgreen\x1b[0m partial', Array.from({ length: 3000 }, (_, i) => `line ${i}\r\n`).join('')],
      ],
    ])('%s', async (_name, parts) => {
      const snap = await viaMirror(parts);
      expect(snap.following).toEqual([]);
      expect(await render([snap.screen], small.cols, small.rows, small.scrollback)).toBe(await full(parts));
    });
  });
});
