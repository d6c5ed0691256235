// A lean terminal-stream client for benchmarks: counts and acks output bytes (immediately, or late to play a
// slow client) without parsing them, so the figures measure the server, not a client-side terminal emulator.
import WebSocket from 'ws';
import type { ServerMessage } from '../../shared/protocol.js';
import type { ServerProcess } from '../helpers/process.js';

/** Where keystrokes go and where their echo comes back: a ws session or a local pty. */
export interface EchoPort {
  send(text: string): void;
  /** subscribes; returns the unsubscribe function */
  onData(listener: (bytes: Buffer) => void): () => void;
}

/**
 * Types one key at a time and waits for its echo; returns each round trip in milliseconds. `beforeKey` (if any)
 * is awaited before key i is sent — outside the measured time.
 */
async function roundTrips(
  port: EchoPort,
  keys: number,
  beforeKey?: (i: number) => Promise<unknown>,
): Promise<number[]> {
  const samples: number[] = [];
  let waiting: (() => void) | undefined;
  const off = port.onData(() => waiting?.());
  try {
    for (let i = 0; i < keys; i++) {
      if (beforeKey) await beforeKey(i);
      const echoed = new Promise<void>((resolve) => (waiting = resolve));
      const t0 = performance.now();
      port.send('x');
      await echoed;
      samples.push(performance.now() - t0);
    }
  } finally {
    off();
  }
  return samples;
}

/** Back to back: the next key the moment the echo lands. */
export function echoRoundTrips(port: EchoPort, keys: number): Promise<number[]> {
  return roundTrips(port, keys);
}

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));

/**
 * Round trips at a typist's pace: one key every `intervalMs` (10 a second is a fast typist), the first after
 * `offsetMs` so that many sessions do not type in lockstep. A key is never sent before the previous echo came.
 */
export function pacedRoundTrips(port: EchoPort, keys: number, intervalMs: number, offsetMs: number): Promise<number[]> {
  const start = performance.now() + offsetMs;
  return roundTrips(port, keys, (i) => sleepUntil(start + i * intervalMs));
}

const CREATE_RETRY_MS = 250;

export class BenchClient {
  outputBytes = 0;
  private tail = '';
  private listeners = new Set<(bytes: Buffer) => void>();
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];
  private exitSeen = false;
  private readonly ackTimers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly ws: WebSocket,
    private readonly ackDelayMs: number,
  ) {
    ws.on('message', (data, isBinary) => {
      const bytes = data as Buffer;
      if (!isBinary) {
        const msg = JSON.parse(bytes.toString('utf8')) as ServerMessage;
        if (msg.type === 'exit') this.exitSeen = true;
        return this.check();
      }
      this.outputBytes += bytes.length;
      // Only the end matters: decoding whole 32 KB frames would make the client, not the server, the bottleneck.
      this.tail = (this.tail + bytes.subarray(-256).toString('latin1')).slice(-256);
      for (const l of this.listeners) l(bytes);
      this.ack(bytes.length);
      this.check();
    });
    ws.on('close', () => {
      this.exitSeen = true;
      this.check();
    });
  }

  /** Creates a host session (waiting out the create-rate limit) and attaches to it. */
  static async open(server: ServerProcess, ackDelayMs = 0): Promise<BenchClient> {
    const auth = { authorization: `Bearer ${server.token}` };
    for (;;) {
      const res = await fetch(`${server.base}/api/sessions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: '{"cols":120,"rows":40}',
      });
      if (res.status === 429) {
        await new Promise((r) => setTimeout(r, CREATE_RETRY_MS));
        continue;
      }
      if (res.status !== 201) throw new Error(`POST /api/sessions → ${res.status} ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      const ws = new WebSocket(`${server.base.replace('http', 'ws')}/ws/sessions/${id}`, { headers: auth });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      return new BenchClient(ws, ackDelayMs);
    }
  }

  private ack(bytes: number): void {
    const send = () => this.ws.readyState === WebSocket.OPEN && this.ws.send(JSON.stringify({ type: 'ack', bytes }));
    if (this.ackDelayMs === 0) return void send();
    const t = setTimeout(() => {
      this.ackTimers.delete(t);
      send();
    }, this.ackDelayMs);
    this.ackTimers.add(t);
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => (w.test() ? (w.resolve(), false) : true));
  }

  private until(test: () => boolean): Promise<void> {
    return test() ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text, 'utf8'));
  }

  /** the shell answers commands */
  async ready(): Promise<void> {
    this.type('echo BENCH$((40+2))READY\r');
    await this.until(() => this.tail.includes('BENCH42READY'));
  }

  exited(): Promise<void> {
    return this.until(() => this.exitSeen);
  }

  /** Replaces the shell with `cat` on a raw tty, which echoes each byte once (no line editing in between). */
  async startRawCat(): Promise<void> {
    this.type("stty raw -echo; printf 'CAT%sREADY' -; exec cat\r");
    await this.until(() => this.tail.includes('CAT-READY'));
  }

  echoPort(): EchoPort {
    return {
      send: (text) => this.type(text),
      onData: (listener) => {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
      },
    };
  }

  close(): void {
    for (const t of this.ackTimers) clearTimeout(t);
    this.ws.terminate();
  }
}
