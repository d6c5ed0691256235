// The imperative half of a terminal pane: owns the xterm Terminal, its addons and the session socket. The
// Svelte component only hands it a DOM node and disposes it; state flows out through `TerminalEvents`.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebglAddon } from '@xterm/addon-webgl';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { SearchAddon } from '@xterm/addon-search';
import '@xterm/xterm/css/xterm.css';
import type { Target } from '../../../shared/api.js';
import type { ServerMessage, WhereInfo } from '../../../shared/protocol.js';
import { createSession, deleteSession, ApiError } from '../lib/api.js';
import { SessionSocket, type EndReason, type LinkState } from './sessionSocket.js';
import { currentTheme, followColorScheme } from './theme.js';

export type TerminalStatus = 'starting' | LinkState | 'exited' | 'error';

export interface TerminalEvents {
  status(status: TerminalStatus, detail: string | null): void;
  session(info: { id: string; target: Target; pid: number } | null): void;
  where(where: WhereInfo | null): void;
  exit(code: number, signal: number | null): void;
}

/** Acks are batched: sent once this many rendered bytes are owed... */
const ACK_BATCH_BYTES = 32 * 1024;
/** ...or this long after the first unacked byte, so a quiet shell never sits on a partial batch. */
const ACK_DELAY_MS = 25;
/** RIS (ESC c): a full reset that travels in order through xterm's write queue, unlike `term.reset()`. */
const FULL_RESET = '\x1bc';

export class TerminalController {
  readonly terminal: Terminal;
  private readonly fit = new FitAddon();
  private readonly search = new SearchAddon();
  private readonly encoder = new TextEncoder();
  private readonly teardown: (() => void)[] = [];
  private socket: SessionSocket | null = null;
  private sessionId: string | null = null;
  private startToken = 0;
  private ackOwed = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private fitFrame = 0;
  private disposed = false;

  constructor(private readonly events: TerminalEvents) {
    this.terminal = new Terminal({
      allowProposedApi: true, // unicode11 and search decorations use proposed API
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace',
      fontSize: 13,
      scrollback: 5000,
      cursorBlink: true,
      theme: currentTheme(),
    });
    const t = this.terminal;
    t.loadAddon(this.fit);
    t.loadAddon(this.search);
    t.loadAddon(new WebLinksAddon());
    t.loadAddon(new Unicode11Addon());
    t.unicode.activeVersion = '11';
    this.teardown.push(
      followColorScheme((theme) => (t.options.theme = theme)),
      dispose(t.onData((data) => this.socket?.sendBytes(this.encoder.encode(data)))),
      // onBinary carries non-UTF-8 input (e.g. some mouse reports) as one char per byte.
      dispose(t.onBinary((data) => this.socket?.sendBytes(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)))),
      dispose(t.onResize(({ cols, rows }) => this.socket?.sendControl({ type: 'resize', cols, rows }))),
    );
    t.attachCustomKeyEventHandler((ev) => this.onKey(ev));
  }

  /** Render into `el` and keep fitting it; call once. */
  open(el: HTMLElement): void {
    const t = this.terminal;
    t.open(el);
    this.loadWebgl();
    const ro = new ResizeObserver(() => this.scheduleFit());
    ro.observe(el);
    this.teardown.push(() => ro.disconnect());
    this.fitNow();
  }

  /** Start a new shell on `target`, ending the current session (if any) first. */
  async start(target: Target): Promise<void> {
    const token = ++this.startToken;
    const ended = this.endSession();
    this.terminal.write(FULL_RESET);
    this.events.session(null);
    this.events.where(null);
    this.events.status('starting', null);
    this.fitNow();
    await ended; // the old shell is gone before the new one starts (e.g. before its namespace is deleted)
    if (token !== this.startToken || this.disposed) return;
    let created: { id: string; pid: number };
    try {
      created = await createSession(target, this.terminal.cols, this.terminal.rows);
    } catch (e) {
      if (token === this.startToken && !this.disposed) this.events.status('error', e instanceof ApiError ? e.message : String(e));
      return;
    }
    if (token !== this.startToken || this.disposed) {
      void deleteSession(created.id).catch(() => undefined); // Swallow: a newer start already replaced it
      return;
    }
    this.sessionId = created.id;
    this.events.session({ id: created.id, target, pid: created.pid });
    const socket = new SessionSocket(created.id, {
      output: (bytes, gen) => this.onOutput(socket, bytes, gen),
      control: (msg) => this.onControl(msg),
      link: (state) => this.events.status(state, null),
      ended: (reason) => this.onEnded(reason),
    });
    this.socket = socket;
    socket.start();
  }

  focus(): void {
    this.terminal.focus();
  }

  findNext(text: string): boolean {
    return this.search.findNext(text);
  }

  findPrevious(text: string): boolean {
    return this.search.findPrevious(text);
  }

  /** Close the socket and the terminal. `endSession` also kills the shell; otherwise the server's grace applies. */
  dispose({ endSession = false } = {}): void {
    if (this.disposed) return;
    this.disposed = true;
    this.startToken++;
    if (endSession) void this.endSession();
    else this.socket?.dispose();
    clearTimeout(this.ackTimer);
    cancelAnimationFrame(this.fitFrame);
    for (const fn of this.teardown.splice(0).reverse()) fn();
    this.terminal.dispose();
  }

  private endSession(): Promise<void> {
    this.socket?.dispose();
    this.socket = null;
    this.ackOwed = 0;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const id = this.sessionId;
    this.sessionId = null;
    // Swallow: the session may have exited already; the server reaps it either way.
    return id ? deleteSession(id).catch(() => undefined) : Promise.resolve();
  }

  private onOutput(socket: SessionSocket, bytes: Uint8Array, gen: number): void {
    this.terminal.write(bytes, () => {
      if (this.socket !== socket || socket.generation !== gen) return; // bytes of an older socket: nobody to ack
      this.ackOwed += bytes.length;
      if (this.ackOwed >= ACK_BATCH_BYTES) this.flushAck();
      else if (this.ackTimer === undefined) this.ackTimer = setTimeout(() => this.flushAck(), ACK_DELAY_MS);
    });
  }

  private flushAck(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.ackOwed > 0) this.socket?.sendControl({ type: 'ack', bytes: this.ackOwed });
    this.ackOwed = 0;
  }

  private onControl(msg: ServerMessage): void {
    switch (msg.type) {
      case 'hello': {
        // The server replays the current screen next: start from a clean terminal, in write order.
        this.ackOwed = 0;
        this.terminal.write(FULL_RESET);
        this.terminal.options.disableStdin = msg.readOnly === true;
        const { cols, rows } = this.terminal;
        if (msg.cols !== cols || msg.rows !== rows) this.socket?.sendControl({ type: 'resize', cols, rows });
        break;
      }
      case 'where':
        this.events.where(msg.where);
        break;
      case 'exit':
        this.flushAck();
        this.events.exit(msg.code, msg.signal);
        this.events.status('exited', null);
        break;
      case 'error':
        console.warn(`nsconsole: terminal error ${msg.code}: ${msg.message}`);
        break;
      case 'resized':
        break; // another client resized; we keep fitting our own pane
    }
  }

  private onEnded(reason: EndReason): void {
    this.socket = null;
    if (reason.kind === 'exited') this.events.status('exited', null);
    else if (reason.kind === 'gone') this.events.status('exited', 'The shell session has ended.');
    else this.events.status('error', reason.message);
  }

  private onKey(ev: KeyboardEvent): boolean {
    if (!(ev.ctrlKey && ev.shiftKey) || ev.altKey || ev.metaKey) return true;
    if (ev.code === 'KeyC') {
      ev.preventDefault(); // Chrome would open the element inspector
      if (ev.type === 'keydown') this.copySelection();
      return false;
    }
    // Ctrl+Shift+V: let the browser fire its paste event, which xterm turns into input.
    if (ev.code === 'KeyV') return false;
    return true;
  }

  private copySelection(): void {
    const text = this.terminal.getSelection();
    if (!text) return;
    if (window.isSecureContext && navigator.clipboard) {
      navigator.clipboard.writeText(text).catch((e: unknown) => console.warn('nsconsole: copy failed', e));
    } else {
      document.execCommand('copy'); // xterm's copy handler fills the clipboard from its selection
    }
  }

  private loadWebgl(): void {
    try {
      const webgl = new WebglAddon();
      webgl.onContextLoss(() => webgl.dispose()); // xterm falls back to its DOM renderer
      this.terminal.loadAddon(webgl);
    } catch (e) {
      // Expected without a GPU (e.g. headless with --disable-gpu): the DOM renderer is the fallback.
      console.info('nsconsole: WebGL renderer unavailable, using the DOM renderer:', e instanceof Error ? e.message : e);
    }
  }

  private scheduleFit(): void {
    if (this.fitFrame) return;
    this.fitFrame = requestAnimationFrame(() => {
      this.fitFrame = 0;
      this.fitNow();
    });
  }

  private fitNow(): void {
    const el = this.terminal.element;
    if (this.disposed || !el || el.offsetWidth === 0 || el.offsetHeight === 0) return; // hidden: keep last size
    this.fit.fit();
  }
}

function dispose(d: { dispose(): void }): () => void {
  return () => d.dispose();
}
