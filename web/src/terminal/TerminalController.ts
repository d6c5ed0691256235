// The imperative half of a terminal pane: owns the xterm Terminal, its addons and the session socket. The
// Svelte component only hands it a DOM node and disposes it; state flows out through `TerminalEvents`.
import type { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import type { Target } from '../../../shared/api.js';
import type { ServerMessage, WhereInfo } from '../../../shared/protocol.js';
import { createSession, deleteSession, getSession, ApiError } from '../lib/api.js';
import { AckBatcher } from './ackBatcher.js';
import { SessionSocket, type EndReason, type LinkState } from './sessionSocket.js';
import { createXterm, FULL_RESET, lazySearch, loadWebgl } from './xtermSetup.js';

export type TerminalStatus = 'starting' | LinkState | 'exited' | 'error';

export interface TerminalEvents {
  /** `code`: the server's error code when the shell could not be created (e.g. CONTAINER_NO_SHELL) */
  status(status: TerminalStatus, detail: string | null, code?: string): void;
  session(info: { id: string; target: Target; pid: number } | null): void;
  where(where: WhereInfo | null): void;
  exit(code: number, signal: number | null): void;
}

export class TerminalController {
  readonly terminal: Terminal;
  private readonly fit = new FitAddon();
  /** the search addon, fetched with the first search */
  private readonly search: ReturnType<typeof lazySearch>;
  private readonly encoder = new TextEncoder();
  private readonly teardown: (() => void)[] = [];
  private readonly acks = new AckBatcher((bytes) => this.socket?.sendControl({ type: 'ack', bytes }));
  private socket: SessionSocket | null = null;
  private sessionId: string | null = null;
  private startToken = 0;
  private fitFrame = 0;
  private disposed = false;

  constructor(private readonly events: TerminalEvents) {
    const xterm = createXterm();
    const t = (this.terminal = xterm.terminal);
    this.search = lazySearch(t, () => this.disposed);
    t.loadAddon(this.fit);
    this.teardown.push(
      xterm.teardown,
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
    void loadWebgl(t, () => this.disposed);
    const ro = new ResizeObserver(() => this.scheduleFit());
    ro.observe(el);
    this.teardown.push(() => ro.disconnect());
    this.fitNow();
  }

  /** Start a new shell on `target`, ending the current session (if any) first. */
  async start(target: Target): Promise<void> {
    const token = await this.begin(true);
    if (token === null) return;
    let created: { id: string; pid: number };
    try {
      created = await createSession(target, this.terminal.cols, this.terminal.rows);
    } catch (e) {
      if (token === this.startToken && !this.disposed)
        this.events.status(
          'error',
          e instanceof ApiError ? e.message : String(e),
          e instanceof ApiError ? e.code : undefined,
        );
      return;
    }
    if (token !== this.startToken || this.disposed) {
      void deleteSession(created.id).catch(() => undefined); // Swallow: a newer start already replaced it
      return;
    }
    this.connect(created.id, target, created.pid);
  }

  /**
   * Reattach to session `id` (e.g. after a page reload: the server replays its screen) when it still runs;
   * otherwise start a new shell on `fallback`. Resolves to whether it reattached.
   */
  async resume(id: string, fallback: Target): Promise<boolean> {
    const token = await this.begin(false);
    if (token === null) return false;
    const info = await getSession(id).catch(() => null); // unreachable: same as gone, start afresh
    if (token !== this.startToken || this.disposed) return false;
    if (!info || info.exited !== null) {
      await this.start(fallback);
      return false;
    }
    this.connect(info.id, info.target, info.pid);
    return true;
  }

  /** Drop the current session (ending its shell when `endShell`), clear the screen; null when superseded. */
  private async begin(endShell: boolean): Promise<number | null> {
    const token = ++this.startToken;
    const ended = endShell ? this.endSession() : this.dropSocket();
    this.terminal.write(FULL_RESET);
    this.events.session(null);
    this.events.where(null);
    this.events.status('starting', null);
    this.fitNow();
    await ended; // the old shell is gone before the new one starts (e.g. before its namespace is deleted)
    return token === this.startToken && !this.disposed ? token : null;
  }

  private connect(id: string, target: Target, pid: number): void {
    this.sessionId = id;
    this.events.session({ id, target, pid });
    const socket = new SessionSocket(id, {
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

  /** Selects the next (or, `backwards`, previous) match of `text`; resolves to whether there was one. */
  async find(text: string, backwards = false): Promise<boolean> {
    const search = await this.search();
    if (!search) return false;
    return backwards ? search.findPrevious(text) : search.findNext(text);
  }

  /** Close the socket and the terminal. `endSession` also kills the shell; otherwise the server's grace applies. */
  dispose({ endSession = false } = {}): void {
    if (this.disposed) return;
    this.disposed = true;
    this.startToken++;
    if (endSession) void this.endSession();
    else this.socket?.dispose();
    this.acks.reset();
    cancelAnimationFrame(this.fitFrame);
    for (const fn of this.teardown.splice(0).reverse()) fn();
    this.terminal.dispose();
  }

  private endSession(): Promise<void> {
    const id = this.sessionId;
    void this.dropSocket();
    // Swallow: the session may have exited already; the server reaps it either way.
    return id ? deleteSession(id).catch(() => undefined) : Promise.resolve();
  }

  /** Let go of the session without ending it (its grace period applies). */
  private dropSocket(): Promise<void> {
    this.socket?.dispose();
    this.socket = null;
    this.sessionId = null;
    this.acks.reset();
    return Promise.resolve();
  }

  private onOutput(socket: SessionSocket, bytes: Uint8Array, gen: number): void {
    this.acks.queued(bytes.length);
    this.terminal.write(bytes, () => {
      if (this.socket !== socket || socket.generation !== gen) return; // bytes of an older socket: nobody to ack
      this.acks.rendered(bytes.length);
    });
  }

  private onControl(msg: ServerMessage): void {
    switch (msg.type) {
      case 'hello': {
        // The server replays the current screen next: start from a clean terminal, in write order.
        this.acks.reset();
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
        this.acks.flush();
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
