// A terminal session belongs to the server, not to a socket: it owns the pty process, the replay screen and the
// attached clients, and lives on for a grace period after the last client leaves.
//
// Output path: pty → OutputBatcher → frame → (ScreenMirror, every live client). Flow control is end to end: each
// client acks the bytes its xterm has written, and the pty is paused while any writer (or the mirror) is too far
// behind, so the kernel's pty buffer — not our memory — absorbs a flood, and Ctrl-C never waits behind more than
// FLOW_HIGH_WATERMARK_BYTES of unrendered output. Input is written to the pty even while output is paused.
import { spawn as spawnPty, type IDisposable, type IPty } from 'node-pty';
import type { SessionInfo, Target } from '../../shared/api.js';
import { CLOSE, type ServerMessage, type WhereInfo } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import { AppError } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { LaunchSpec } from './launch.js';
import { OutputBatcher } from './output-batcher.js';
import { endSessions, KILL_SETTLE_MS } from './process-group.js';
import { rescueOutputAfterEarlyEof } from './pty-eof-drain.js';
import { ScreenMirror, type ScreenSnapshot } from './screen-mirror.js';
import { readWhere, sameWhere } from './where.js';

/**
 * Pause the pty when a writer has this many bytes sent but not yet rendered. It bounds the wait from Ctrl-C to
 * the prompt: xterm.js renders scrolling text at 10+ MB/s, so 128 KB is ~10 ms of backlog (ttyd, with no such
 * bound, takes 4.7-6.9 s), while still leaving a window of four frames in flight for throughput.
 */
export const FLOW_HIGH_WATERMARK_BYTES = 128 * 1024;
/** Resume once every writer is below this: the gap keeps the pty from flapping between pause and resume. */
export const FLOW_LOW_WATERMARK_BYTES = 32 * 1024;
/**
 * A read-only viewer never pauses the owner's shell; one this far behind is disconnected instead (it can
 * reattach and gets the current screen), which bounds what the server buffers for it.
 */
export const VIEWER_MAX_UNACKED_BYTES = 4 * 1024 * 1024;
/** The replay mirror parses on our event loop; when it lags this much, the pty waits for it too. */
const MIRROR_HIGH_BACKLOG_BYTES = 1024 * 1024;
const MIRROR_LOW_BACKLOG_BYTES = 256 * 1024;
/**
 * node-pty destroys the pty 200 ms after the child exits if the read side has not hit EOF, dropping what is
 * still in the kernel buffer — which is exactly the case while we are paused. So while paused we look for the
 * child's exit more often than that, and then read the rest (at most the kernel's ~64 KB pty buffer) regardless
 * of acks: `seq 1 1000000; exit` must show its last line.
 */
const PAUSED_EXIT_POLL_MS = 50;
/** The watch stops once output has flowed freely this long (it would be restarted by the next pause). */
const EXIT_WATCH_LINGER_MS = 1000;
/** How often the foreground process is looked up for the pane header, while someone is watching. */
export const WHERE_POLL_MS = 300;

/** The session's view of one attached socket (terminal-stream.ts adapts a WebSocket to it). */
export interface TerminalClient {
  readonly readOnly: boolean;
  sendOutput(bytes: Buffer): void;
  sendMessage(msg: ServerMessage): void;
  close(code: number, reason: string): void;
}

/** What a client can do to the session it is attached to. */
export interface Attachment {
  input(data: Buffer): void;
  resize(cols: number, rows: number): void;
  ack(bytes: number): void;
  detach(): void;
}

interface ClientState {
  client: TerminalClient;
  /** output bytes sent to it and not yet acked */
  unacked: number;
  /** false until it has received the replayed screen */
  live: boolean;
  cancelJoin: () => void;
}

export interface SessionOptions {
  id: string;
  target: Target;
  spec: LaunchSpec;
  cols: number;
  rows: number;
  config: Pick<Config, 'sessionGraceMs' | 'maxClientsPerSession' | 'scrollback'>;
  log: Logger;
  /** the grace period after the last client left has run out: the owner should terminate the session */
  onIdle(session: TerminalSession): void;
}

export class TerminalSession {
  readonly id: string;
  readonly target: Target;
  readonly pid: number;
  readonly createdAt = new Date().toISOString();
  private readonly pty: IPty;
  private readonly ptyListeners: IDisposable[] = [];
  private readonly batcher: OutputBatcher;
  private readonly mirror: ScreenMirror;
  private readonly clients = new Map<TerminalClient, ClientState>();
  private readonly log: Logger;
  private cols: number;
  private rows: number;
  private paused = false;
  private lastPausedAt = 0;
  private draining = false;
  private exitStatus: { code: number; signal: number | null } | null = null;
  private readonly exited: Promise<void>;
  private markExited!: () => void;
  private where: WhereInfo | null = null;
  private whereBusy = false;
  private whereTimer: NodeJS.Timeout | undefined;
  private exitWatch: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private ending: Promise<void> | undefined;
  private disposed = false;

  constructor(private readonly opts: SessionOptions) {
    this.id = opts.id;
    this.target = opts.target;
    this.cols = opts.cols;
    this.rows = opts.rows;
    this.log = opts.log.child({ session: opts.id });
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    this.mirror = new ScreenMirror({ cols: opts.cols, rows: opts.rows, scrollback: opts.config.scrollback, onProgress: () => this.updateFlow() });
    this.batcher = new OutputBatcher((frame) => this.broadcast(frame));
    opts.spec.verify?.();
    // encoding null: raw bytes, so sequence numbers count exactly what the clients receive.
    this.pty = spawnPty(opts.spec.file, opts.spec.args, { name: 'xterm-256color', cols: opts.cols, rows: opts.rows, cwd: opts.spec.cwd, env: opts.spec.env, encoding: null });
    this.pid = this.pty.pid;
    const output = (data: Buffer) => this.batcher.push(data);
    this.ptyListeners.push(
      this.pty.onData(output as unknown as (data: string) => void),
      { dispose: rescueOutputAfterEarlyEof(this.pty, output) },
      this.pty.onExit(({ exitCode, signal }) => this.handleExit(exitCode, signal ? signal : null)),
    );
    this.log.info({ pid: this.pid, target: opts.spec.description, argv: [opts.spec.file, ...opts.spec.args] }, 'session started');
    this.startGrace(); // nobody is attached yet: a session created and never opened must not live forever
  }

  info(): SessionInfo {
    return { id: this.id, target: this.target, pid: this.pid, cols: this.cols, rows: this.rows, clients: this.clients.size, createdAt: this.createdAt, exited: this.exitStatus };
  }

  /** Attaches a client: it gets hello, the replayed screen, then live output. Throws AppError when full. */
  attach(client: TerminalClient): Attachment {
    if (this.ending || this.disposed) throw new AppError('SESSION_NOT_FOUND', 'the session is ending');
    if (this.clients.size >= this.opts.config.maxClientsPerSession) {
      throw new AppError('TOO_MANY_CLIENTS', `a session takes at most ${this.opts.config.maxClientsPerSession} clients`);
    }
    const state: ClientState = { client, unacked: 0, live: false, cancelJoin: () => {} };
    this.clients.set(client, state);
    clearTimeout(this.graceTimer);
    this.startWherePolling();
    state.cancelJoin = this.mirror.requestSnapshot((snapshot) => this.join(state, snapshot));
    return {
      input: (data) => {
        if (!client.readOnly && !this.exitStatus && !this.disposed) this.pty.write(data);
      },
      resize: (cols, rows) => {
        if (!client.readOnly) this.resize(cols, rows);
      },
      ack: (bytes) => {
        state.unacked = Math.max(0, state.unacked - bytes);
        this.updateFlow();
      },
      detach: () => this.detach(state),
    };
  }

  /**
   * Ends the session: the pty's whole session gets SIGHUP, SIGTERM, SIGKILL (named timeouts in process-group.ts),
   * clients are told, and everything is released. Safe to call more than once.
   */
  terminate(): Promise<void> {
    this.ending ??= (async () => {
      clearTimeout(this.graceTimer);
      const survivors = await endSessions([this.pid]);
      if (survivors.length > 0) this.log.error({ pid: this.pid }, 'processes survived SIGKILL');
      // The exit event follows the processes' end once node-pty has read the last output.
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, KILL_SETTLE_MS).unref())]);
      for (const state of this.clients.values()) state.client.close(CLOSE.GOING_AWAY, 'session closed');
      this.dispose();
    })();
    return this.ending;
  }

  /** Releases everything the session owns. Processes are ended by terminate(); this only drops our handles. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const listener of this.ptyListeners) listener.dispose();
    this.batcher.dispose();
    this.mirror.dispose();
    for (const state of this.clients.values()) state.cancelJoin();
    this.clients.clear();
    clearTimeout(this.graceTimer);
    clearInterval(this.whereTimer);
    clearInterval(this.exitWatch);
    if (this.paused) this.pty.resume(); // let node-pty read to EOF and close the pty fd
    this.markExited();
  }

  private join(state: ClientState, snapshot: ScreenSnapshot): void {
    if (this.clients.get(state.client) !== state) return;
    const { client } = state;
    client.sendMessage({ type: 'hello', session: this.id, target: this.target, pid: this.pid, cols: snapshot.cols, rows: snapshot.rows, readOnly: client.readOnly, seq: snapshot.seq });
    this.send(state, snapshot.screen);
    for (const event of snapshot.following) {
      if (event.kind === 'output') this.send(state, event.bytes);
      else client.sendMessage({ type: 'resized', cols: event.cols, rows: event.rows });
    }
    state.live = true;
    if (this.where) client.sendMessage({ type: 'where', where: this.where });
    if (this.exitStatus) {
      client.sendMessage({ type: 'exit', ...this.exitStatus });
      client.close(CLOSE.SESSION_EXITED, 'session exited');
    }
    this.updateFlow();
  }

  private detach(state: ClientState): void {
    if (this.clients.get(state.client) !== state) return;
    state.cancelJoin();
    this.clients.delete(state.client);
    this.updateFlow();
    if (this.clients.size === 0) {
      clearInterval(this.whereTimer);
      this.whereTimer = undefined;
      this.startGrace();
    }
  }

  private send(state: ClientState, bytes: Buffer): void {
    state.unacked += bytes.length;
    state.client.sendOutput(bytes);
  }

  private broadcast(frame: Buffer): void {
    if (this.disposed) return;
    this.mirror.write(frame);
    for (const state of this.clients.values()) if (state.live) this.send(state, frame);
    this.updateFlow();
  }

  /** The most recent resize from a writer wins (viewers cannot resize); every client is told, in stream order. */
  private resize(cols: number, rows: number): void {
    if (this.disposed || this.exitStatus || (cols === this.cols && rows === this.rows)) return;
    this.batcher.flush(); // output read before the resize was produced for the old size
    this.cols = cols;
    this.rows = rows;
    this.pty.resize(cols, rows);
    this.mirror.resize(cols, rows);
    for (const state of this.clients.values()) if (state.live) state.client.sendMessage({ type: 'resized', cols, rows });
  }

  private updateFlow(): void {
    if (this.disposed || this.draining || this.exitStatus) return;
    let worstWriter = 0;
    for (const state of this.clients.values()) {
      if (!state.live) continue;
      if (!state.client.readOnly) worstWriter = Math.max(worstWriter, state.unacked);
      else if (state.unacked > VIEWER_MAX_UNACKED_BYTES) this.dropSlowViewer(state);
    }
    const backlog = this.mirror.backlogBytes;
    if (!this.paused && (worstWriter > FLOW_HIGH_WATERMARK_BYTES || backlog > MIRROR_HIGH_BACKLOG_BYTES)) {
      this.paused = true;
      this.lastPausedAt = Date.now();
      this.pty.pause();
      // Not restarted on every pause: pause and resume can alternate faster than the poll interval.
      this.exitWatch ??= setInterval(() => this.watchForExitWhilePaused(), PAUSED_EXIT_POLL_MS);
    } else if (this.paused && worstWriter <= FLOW_LOW_WATERMARK_BYTES && backlog <= MIRROR_LOW_BACKLOG_BYTES) {
      this.resumeOutput();
    }
  }

  private resumeOutput(): void {
    this.paused = false;
    this.pty.resume();
  }

  private watchForExitWhilePaused(): void {
    if (!this.paused && Date.now() - this.lastPausedAt > EXIT_WATCH_LINGER_MS) {
      clearInterval(this.exitWatch);
      this.exitWatch = undefined;
      return;
    }
    try {
      process.kill(this.pid, 0);
    } catch {
      clearInterval(this.exitWatch);
      this.exitWatch = undefined;
      // The shell is gone (node-pty reaps it at once): read what it left behind, whatever the acks say.
      this.draining = true;
      this.resumeOutput();
    }
  }

  private dropSlowViewer(state: ClientState): void {
    this.log.info({ unacked: state.unacked }, 'disconnecting a viewer that is too far behind');
    state.client.sendMessage({ type: 'error', code: 'VIEWER_TOO_SLOW', message: 'this viewer fell too far behind; reconnect to get the current screen' });
    state.client.close(CLOSE.VIEWER_TOO_SLOW, 'viewer too slow');
    this.detach(state);
  }

  private handleExit(code: number, signal: number | null): void {
    if (this.exitStatus) return;
    this.exitStatus = { code, signal };
    this.batcher.flush(); // every byte the shell wrote goes out before the exit message
    clearInterval(this.exitWatch);
    clearInterval(this.whereTimer);
    this.log.info({ code, signal }, 'session exited');
    for (const state of this.clients.values()) {
      if (!state.live) continue; // a joining client gets the exit after its screen (see join)
      state.client.sendMessage({ type: 'exit', code, signal });
      state.client.close(CLOSE.SESSION_EXITED, 'session exited');
    }
    this.markExited();
  }

  private startGrace(): void {
    clearTimeout(this.graceTimer);
    if (this.ending || this.disposed) return;
    this.graceTimer = setTimeout(() => this.opts.onIdle(this), this.opts.config.sessionGraceMs);
  }

  private startWherePolling(): void {
    if (this.whereTimer || this.exitStatus) return;
    this.whereTimer = setInterval(() => void this.pollWhere(), WHERE_POLL_MS);
    void this.pollWhere();
  }

  private async pollWhere(): Promise<void> {
    if (this.whereBusy) return;
    this.whereBusy = true;
    const where = await readWhere(this.pid).finally(() => (this.whereBusy = false));
    if (this.disposed || !where || sameWhere(where, this.where)) return;
    this.where = where;
    for (const state of this.clients.values()) if (state.live) state.client.sendMessage({ type: 'where', where });
  }
}
