// A terminal-stream client for tests: speaks the protocol like the browser does (acks after its xterm — here
// a headless one — has written the bytes) and exposes the screen for assertions.
import xtermHeadless from '@xterm/headless';
import WebSocket from 'ws';
import { ServerMessageSchema, type ServerMessage } from '../../shared/protocol.js';

const { Terminal } = xtermHeadless;
export type HeadlessTerminal = InstanceType<typeof Terminal>;
type Hello = Extract<ServerMessage, { type: 'hello' }>;

/** after-write: like the browser; never: a client that stops reading; delayMs: a slow one */
export type AckMode = 'after-write' | 'never' | { delayMs: number };

const EMPTY = new Uint8Array(0);

export class TermClient {
  readonly term: HeadlessTerminal;
  readonly messages: ServerMessage[] = [];
  hello: Hello | undefined;
  outputBytes = 0;
  closed: { code: number; reason: string } | undefined;
  readonly opened: Promise<void>;
  private ackTimers = new Set<NodeJS.Timeout>();

  constructor(
    readonly ws: WebSocket,
    private readonly ackMode: AckMode = 'after-write',
    scrollback = 1000,
  ) {
    this.term = new Terminal({ cols: 80, rows: 24, scrollback, allowProposedApi: true });
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('message', (data, isBinary) => {
      const bytes = data as Buffer;
      if (isBinary) return this.output(bytes);
      // Every message the real server sends must pass the schema the browser uses (parse throws: the test fails).
      const msg = ServerMessageSchema.parse(JSON.parse(bytes.toString('utf8')));
      this.messages.push(msg);
      if (msg.type === 'hello') {
        this.hello = msg;
        this.term.resize(msg.cols, msg.rows);
      } else if (msg.type === 'resized') {
        // In stream order: bytes before the resize are parsed at the old size.
        this.term.write(EMPTY, () => this.term.resize(msg.cols, msg.rows));
      }
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const t of this.ackTimers) clearTimeout(t);
    });
  }

  private output(bytes: Buffer): void {
    this.outputBytes += bytes.length;
    this.term.write(bytes, () => {
      if (this.ackMode === 'never') return;
      if (this.ackMode === 'after-write') return this.ack(bytes.length);
      const t = setTimeout(() => {
        this.ackTimers.delete(t);
        this.ack(bytes.length);
      }, this.ackMode.delayMs);
      this.ackTimers.add(t);
    });
  }

  ack(bytes: number): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'ack', bytes }));
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text, 'utf8'), { binary: true });
  }

  control(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
    this.control({ type: 'resize', cols, rows });
  }

  /** resolves once every byte received so far has been parsed */
  settled(): Promise<void> {
    return new Promise((resolve) => this.term.write(EMPTY, resolve));
  }

  /** every line of the buffer (scrollback and screen), right-trimmed */
  lines(): string[] {
    const buf = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < buf.length; i++) out.push(buf.getLine(i)?.translateToString(true) ?? '');
    return out;
  }

  /** the visible screen and the cursor, the thing a person sees */
  screen(): { lines: string[]; cursor: [number, number] } {
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.term.rows; y++) lines.push(buf.getLine(buf.baseY + y)?.translateToString(true) ?? '');
    return { lines, cursor: [buf.cursorX, buf.cursorY] };
  }

  text(): string {
    return this.lines().join('\n');
  }

  async waitFor(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.settled();
      if (pred()) return;
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; screen:\n${this.text().trimEnd().split('\n').slice(-15).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  waitForText(pattern: string | RegExp, timeoutMs?: number): Promise<void> {
    const test = (s: string) => (typeof pattern === 'string' ? s.includes(pattern) : pattern.test(s));
    return this.waitFor(() => test(this.text()), `text ${String(pattern)}`, timeoutMs);
  }

  waitForMessage<T extends ServerMessage['type']>(
    type: T,
    timeoutMs = 10_000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    return this.waitFor(() => this.messages.some((m) => m.type === type), `a ${type} message`, timeoutMs).then(
      () => this.messages.find((m) => m.type === type) as Extract<ServerMessage, { type: T }>,
    );
  }

  waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return this.waitFor(() => this.closed !== undefined, 'the socket to close', timeoutMs).then(() => this.closed!);
  }

  dispose(): void {
    for (const t of this.ackTimers) clearTimeout(t);
    this.ws.terminate();
    this.term.dispose();
  }
}
