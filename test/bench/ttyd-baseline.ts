// ttyd, the web terminal we mean to beat, as a second baseline for the stream figures: with TTYD=/path/to/ttyd
// (1.7.x; built from source here: Debian has no package), each round also runs `cat FILE` through it and reads
// its WebSocket as a browser would, without pausing it. Skipped (null) without TTYD.
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { freePort } from '../helpers/net.js';

const MB = 1024 * 1024;

/** ttyd's own binary, from the TTYD environment variable. */
export const ttydPath = (): string | null => process.env.TTYD || null;

/** MB/s of `command` through ttyd (120×40), from the client's first message to the socket's close. */
export async function ttydThroughput(ttyd: string, command: string): Promise<number> {
  const port = await freePort();
  // --once: ttyd exits when its one client leaves; argv array, the command runs in sh -c like the other sides'.
  const child = spawn(ttyd, ['-p', String(port), '-o', '/bin/sh', '-c', command], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const ws = await connect(port);
    return await new Promise<number>((resolve, reject) => {
      let bytes = 0;
      const t0 = performance.now();
      // ttyd's protocol: the first message carries the size; output messages start with '0'.
      ws.send(Buffer.from(JSON.stringify({ AuthToken: '', columns: 120, rows: 40 })));
      ws.on('message', (data: Buffer) => {
        if (data[0] === 0x30) bytes += data.length - 1;
      });
      ws.once('close', () => resolve(bytes / MB / ((performance.now() - t0) / 1000)));
      ws.once('error', reject);
    });
  } finally {
    child.kill();
    await exited;
  }
}

/** ttyd listens a moment after it starts: retry the connection for up to 5 s. */
async function connect(port: number): Promise<WebSocket> {
  const deadline = performance.now() + 5000;
  for (;;) {
    try {
      return await new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['tty']);
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    } catch (err) {
      if (performance.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
