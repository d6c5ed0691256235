// A flood reaches the mirror worker in a few big messages, not one per output frame: each postMessage costs the
// main thread (and wakes the worker), and the worker waits for a megabyte before it parses anyway. Nothing is lost
// or reordered by the batching: the replayed screen matches a terminal that saw every frame.
import { Worker } from 'node:worker_threads';
import xtermHeadless from '@xterm/headless';
import { SerializeAddon } from '@xterm/addon-serialize';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MIRROR_FLUSH_BYTES, MirrorHost } from '../../server/terminals/mirror/mirror-host.js';
import { ScreenMirror, SNAPSHOT_BOUNDARY_WAIT_MS } from '../../server/terminals/mirror/screen-mirror.js';

const { Terminal } = xtermHeadless;
/** what the output batcher sends while streaming (MAX_FRAME_BYTES) */
const FRAME_BYTES = 32 * 1024;
const FRAMES = 64;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function frame(i: number): Buffer {
  let s = '';
  for (let n = 0; Buffer.byteLength(s) < FRAME_BYTES - 100; n++) s += `\x1b[3${n % 8}mframe ${i} line ${n}\x1b[0m\r\n`;
  return Buffer.from(s);
}

let host: MirrorHost | undefined;
afterEach(() => {
  host?.dispose();
  host = undefined;
  vi.restoreAllMocks();
});

describe('MirrorHost', () => {
  it('sends a flood of 32 KB frames, one per event-loop turn, in messages of about MIRROR_FLUSH_BYTES', async () => {
    const posted = vi.spyOn(Worker.prototype, 'postMessage');
    host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
    const m = new ScreenMirror({ cols: 120, rows: 40, scrollback: 100, host, onProgress: () => {} });
    const frames = Array.from({ length: FRAMES }, (_, i) => frame(i));
    for (const f of frames) {
      m.write(f);
      await nextTurn(); // the batcher sends at most one 32 KB frame per turn in a flood
    }
    const screen = await new Promise<Buffer>((resolve) =>
      m.requestSnapshot((s) =>
        resolve(
          Buffer.concat([s.screen, ...s.following.map((e) => (e.kind === 'output' ? e.bytes : Buffer.alloc(0)))]),
        ),
      ),
    );
    // One message per frame before (16 KB threshold); now one per MIRROR_FLUSH_BYTES, plus the create and the
    // snapshot request.
    const expected = Math.ceil((FRAMES * FRAME_BYTES) / MIRROR_FLUSH_BYTES) + 2;
    expect(posted.mock.calls.length).toBeLessThanOrEqual(expected);
    expect(posted.mock.calls.length).toBeLessThan(FRAMES / 4);

    const t = new Terminal({ cols: 120, rows: 40, scrollback: 100, allowProposedApi: true });
    const replay = new Terminal({ cols: 120, rows: 40, scrollback: 100, allowProposedApi: true });
    const [ser, serReplay] = [new SerializeAddon(), new SerializeAddon()];
    t.loadAddon(ser);
    replay.loadAddon(serReplay);
    try {
      for (const f of frames) await new Promise<void>((r) => t.write(f, r));
      await new Promise<void>((r) => replay.write(screen, r));
      expect(serReplay.serialize()).toBe(ser.serialize());
    } finally {
      t.dispose();
      replay.dispose();
    }
  });
});
