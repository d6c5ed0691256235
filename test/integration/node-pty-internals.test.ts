// pty-eof-drain.ts and pty-input.ts reach into node-pty's private UnixTerminal fields (`_socket`, `fd`). If an
// upgrade moves them, both fall back silently (output tail lost at exit again; keystrokes through the thread
// pool again). This test fails loudly instead, naming the files to update.
import { afterEach, describe, expect, it } from 'vitest';
import { fstatSync, readlinkSync } from 'node:fs';
import * as nodePty from 'node-pty';
import type { IPty } from 'node-pty';

const MOVED = 'node-pty internals moved: update server/terminals/pty-eof-drain.ts and pty-input.ts';

let pty: IPty | undefined;
afterEach(() => {
  try {
    pty?.kill('SIGKILL');
  } catch {
    // Swallow: the shell already exited, which is what most tests wait for.
  }
  pty = undefined;
});

interface Internals {
  _socket?: { on?: unknown; off?: unknown };
  fd?: unknown;
}

describe('node-pty private internals we rely on', () => {
  it('has the master fd as `fd` and its read stream as `_socket`', () => {
    pty = nodePty.spawn('/bin/sh', ['-c', 'exit 0'], { cols: 80, rows: 24 });
    const internals = pty as unknown as Internals;
    expect(typeof internals.fd, `${MOVED} (fd)`).toBe('number');
    const fd = internals.fd as number;
    expect(fstatSync(fd).isCharacterDevice(), `${MOVED} (fd is not a character device)`).toBe(true);
    expect(readlinkSync(`/proc/self/fd/${fd}`), `${MOVED} (fd is not the pty master)`).toBe('/dev/ptmx');
    expect(typeof internals._socket?.on, `${MOVED} (_socket.on)`).toBe('function');
    expect(typeof internals._socket?.off, `${MOVED} (_socket.off)`).toBe('function');
  });

  it("still has the fd open when `_socket` says 'end' (the drain reads the rest there)", async () => {
    // A shell's exit ends the stream with 'end' (libuv's EOF) or with an EIO error, depending on a race; only
    // 'end' is hooked. Spawn until 'end' has been seen a few times (bounded), checking the fd each time.
    const ENDS_WANTED = 3;
    const MAX_SPAWNS = 30;
    let ends = 0;
    for (let i = 0; i < MAX_SPAWNS && ends < ENDS_WANTED; i++) {
      const p = nodePty.spawn('/bin/sh', ['-c', 'echo bye'], { cols: 80, rows: 24 });
      pty = p;
      p.onData(() => {}); // node-pty reads (and so sees EOF) only while someone listens
      const internals = p as unknown as { _socket: { once(e: string, f: (err?: Error) => void): void }; fd: number };
      const outcome = await new Promise<'open' | 'closed' | 'error'>((resolve) => {
        internals._socket.once('end', () => {
          try {
            fstatSync(internals.fd);
            resolve('open');
          } catch {
            resolve('closed'); // closed already: the drain would have nothing to read from
          }
        });
        internals._socket.once('error', () => resolve('error'));
        internals._socket.once('close', () => resolve('error')); // first when neither came: counted as no 'end'
      });
      expect(outcome, `${MOVED} (fd closed before 'end')`).not.toBe('closed');
      if (outcome === 'open') ends++;
    }
    expect(ends, `${MOVED} ('end' never came)`).toBe(ENDS_WANTED);
  });
});
