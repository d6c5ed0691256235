// A terminal session belongs to the server, not to a socket: it owns the pty process, the replay screen and the
// attached clients, and lives on for a grace period after the last client leaves.
//
// Output path: pty → OutputBatcher → frame → (ScreenMirror, every live client). Flow control is end to end: each
// client acks the bytes its xterm has written, and the pty is paused while any writer (or the mirror) is too far
// behind (flow-gate.ts). Input is written to the pty even while output is paused.
import { spawn as spawnPty, type IPty } from 'node-pty';
import type { SessionInfo, Target } from '../../shared/api.js';
import { CLOSE, type ServerMessage } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import { defaultScreenCells, fitScreen } from '../config/limits.js';
import { AppError } from '../errors.js';
import { DisposableStore, TimeoutSlot, toDisposable } from '../lifecycle/disposables.js';
import type { Logger } from '../log.js';
import type { LaunchSpec } from './launch.js';
import { OutputBatcher } from './output-batcher.js';
import { PtyFlowGate } from './flow-gate.js';
import type { MirrorHost } from './mirror/mirror-host.js';
import { endSessions, KILL_SETTLE_MS } from './process-group.js';
import { readProcStat } from '../proc/pids.js';
import { rescueOutputAfterEarlyEof } from './pty-eof-drain.js';
import { PtyInput } from './pty-input.js';
import type { ReadTurns } from './read-turns.js';
import { ScreenMirror, type ScreenSnapshot } from './mirror/screen-mirror.js';
import { WhereWatcher } from './where.js';

/**
 * A read-only viewer never pauses the owner's shell; one this far behind is disconnected instead (it can
 * reattach and gets the current screen), which bounds what the server buffers for it.
 */
export const VIEWER_MAX_UNACKED_BYTES = 4 * 1024 * 1024;
/**
 * A new session waits at least this long for its first client, whatever the grace period: the browser opens
 * the WebSocket right after POST /api/sessions, but with `--session-grace 0` it would otherwise lose the race.
 */
export const FIRST_ATTACH_WINDOW_MS = 10_000;
/** The session's view of one attached socket (terminal-stream.ts adapts a WebSocket to it). */
export interface TerminalClient {
  readonly readOnly: boolean;
  /** `replay`: the replayed screen a joining client gets in one piece (see ws/outbox.ts) */
  sendOutput(bytes: Buffer, replay?: boolean): void;
  sendMessage(msg: ServerMessage): void;
  close(code: number, reason: string): void;
}

/** What a client can do to the session it is attached to. */
export interface Attachment {
  input(data: Buffer): void;
  resize(cols: number, rows: number): void;
  /** false when `bytes` is more than was sent to this client and not yet acked: the caller closes it */
  ack(bytes: number): boolean;
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
  config: Pick<Config, 'sessionGraceMs' | 'maxClientsPerSession' | 'scrollback' | 'screenCells'>;
  log: Logger;
  /** the worker thread that hosts the replay screens (one per registry, shared by its sessions) */
  mirrorHost: MirrorHost;
  /** turns among flooding ptys (one per registry): a flood steps aside while too many read at once */
  readTurns?: ReadTurns;
  /** the grace period after the last writer left has run out: the owner should terminate the session */
  onIdle(session: TerminalSession): void;
  /** the shell exited: its share links die with it (the registry revokes the viewer token) */
  onExit?(session: TerminalSession): void;
  /** metrics: bytes read from the pty ('out') and written to it ('in') */
  onBytes?(direction: 'in' | 'out', bytes: number): void;
}

export class TerminalSession {
  readonly id: string;
  readonly target: Target;
  readonly pid: number;
  /** the leader's start time: its PID number may belong to someone else once all of ours are gone */
  private readonly leaderStartTime: number | null;
  readonly createdAt = new Date().toISOString();
  private readonly pty: IPty;
  private readonly input: PtyInput;
  private readonly batcher: OutputBatcher;
  private readonly mirror: ScreenMirror;
  private readonly clients = new Map<TerminalClient, ClientState>();
  private readonly log: Logger;
  private cols: number;
  private rows: number;
  private readonly flow: PtyFlowGate;
  private readonly whereWatcher: WhereWatcher;
  private exitStatus: { code: number; signal: number | null } | null = null;
  private readonly exited: Promise<void>;
  private markExited!: () => void;
  /** everything the session holds, registered where it is made; dispose() frees it, last made first */
  private readonly store = new DisposableStore();
  private readonly graceTimer = this.store.add(new TimeoutSlot());
  /** attached writers: only they hold the session open (a viewer alone does not stop the grace timer) */
  private writers = 0;
  private ending: Promise<void> | undefined;
  private everAttached = false;
  private disposed = false;
  /** told of pty output (the shell did something): lesson checks look again then (see server/lessons) */
  private readonly activityListeners = new Set<() => void>();

  constructor(private readonly opts: SessionOptions) {
    this.id = opts.id;
    this.target = opts.target;
    // The replay screen's memory is bounded whatever size is asked for (config/limits.ts): narrowed here and on resize.
    ({ cols: this.cols, rows: this.rows } = this.fit(opts.cols, opts.rows));
    this.log = opts.log.child({ session: opts.id });
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    this.mirror = this.store.add(
      new ScreenMirror({
        cols: this.cols,
        rows: this.rows,
        scrollback: opts.config.scrollback,
        host: opts.mirrorHost,
        onProgress: () => this.updateFlow(),
      }),
    );
    this.batcher = this.store.add(new OutputBatcher((frame) => this.broadcast(frame)));
    try {
      opts.spec.verify?.();
      // encoding null: raw bytes, so sequence numbers count exactly what the clients receive.
      this.pty = spawnPty(opts.spec.file, opts.spec.args, {
        name: 'xterm-256color',
        cols: this.cols,
        rows: this.rows,
        cwd: opts.spec.cwd,
        env: opts.spec.env,
        encoding: null,
      });
    } catch (err) {
      opts.spec.started?.(null);
      this.store.dispose(); // the replay screen made above, in the mirror worker
      throw err;
    }
    opts.spec.started?.(this.pty.pid);
    this.pid = this.pty.pid;
    this.leaderStartTime = readProcStat(this.pid)?.startTime ?? null;
    this.store.add(
      toDisposable(() => {
        for (const state of this.clients.values()) state.cancelJoin();
        this.clients.clear();
      }),
    );
    this.input = this.store.add(new PtyInput(this.pty));
    this.flow = this.store.add(new PtyFlowGate(this.pty, this.pid));
    const turns = opts.readTurns;
    if (turns) this.store.add(toDisposable(() => turns.forget(this.flow)));
    this.whereWatcher = new WhereWatcher(this.pid, (where) => {
      for (const state of this.clients.values()) if (state.live) state.client.sendMessage({ type: 'where', where });
    });
    this.store.add(toDisposable(() => this.whereWatcher.stop()));
    const output = (data: Buffer) => {
      this.whereWatcher.noteActivity();
      for (const fn of this.activityListeners) fn();
      this.batcher.push(data);
      turns?.read(this.flow, data.length);
    };
    this.store.add(this.pty.onData(output as unknown as (data: string) => void));
    this.store.add(toDisposable(rescueOutputAfterEarlyEof(this.pty, output)));
    this.store.add(this.pty.onExit(({ exitCode, signal }) => this.handleExit(exitCode, signal ? signal : null)));
    this.log.info(
      { pid: this.pid, target: opts.spec.description, argv: [opts.spec.file, ...opts.spec.args] },
      'session started',
    );
    this.startGrace(); // no writer is attached yet: a session created and never opened must not live forever
  }

  info(): SessionInfo {
    return {
      id: this.id,
      target: this.target,
      pid: this.pid,
      cols: this.cols,
      rows: this.rows,
      clients: this.clients.size,
      createdAt: this.createdAt,
      exited: this.exitStatus,
    };
  }

  /** Calls `fn` on every chunk of pty output until the returned function is called. */
  onActivity(fn: () => void): () => void {
    this.activityListeners.add(fn);
    return () => this.activityListeners.delete(fn);
  }

  /** the shell has exited (the session may still be in its grace period, showing the final screen to writers) */
  get hasExited(): boolean {
    return this.exitStatus !== null;
  }

  /**
   * Attaches a client: it gets hello, the replayed screen, then live output. Throws AppError when full, and for a
   * viewer once the shell has exited (a share link dies with the shell). Only a writer stops the grace timer.
   */
  attach(client: TerminalClient): Attachment {
    if (this.ending || this.disposed) throw new AppError('SESSION_NOT_FOUND', 'the session is ending');
    if (client.readOnly && this.exitStatus)
      throw new AppError('SESSION_EXITED', 'the shell has exited: this share link has ended');
    if (this.clients.size >= this.opts.config.maxClientsPerSession) {
      throw new AppError(
        'TOO_MANY_CLIENTS',
        `a session takes at most ${this.opts.config.maxClientsPerSession} clients`,
      );
    }
    const state: ClientState = { client, unacked: 0, live: false, cancelJoin: () => {} };
    this.clients.set(client, state);
    if (!client.readOnly) {
      this.writers++;
      this.everAttached = true;
      this.graceTimer.clear();
    }
    if (!this.exitStatus) this.whereWatcher.start();
    state.cancelJoin = this.mirror.requestSnapshot((snapshot) => this.join(state, snapshot));
    return {
      input: (data) => {
        if (client.readOnly || this.exitStatus || this.disposed) return;
        this.opts.onBytes?.('in', data.length);
        this.input.write(data);
      },
      resize: (cols, rows) => {
        if (client.readOnly) return;
        const fitted = this.fit(cols, rows);
        const unchanged = fitted.cols === this.cols && fitted.rows === this.rows;
        this.resize(fitted.cols, fitted.rows); // tells every client of a change, the asker included
        // Narrowed to the size it already had: only the asker needs telling that it did not get what it asked.
        if (unchanged && fitted.cols !== cols && this.clients.get(client)?.live)
          client.sendMessage({ type: 'resized', cols: this.cols, rows: this.rows });
      },
      ack: (bytes) => {
        if (this.clients.get(client) !== state) return true; // detached: late acks mean nothing
        if (bytes > state.unacked) return false;
        state.unacked -= bytes;
        this.updateFlow();
        return true;
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
      this.graceTimer.clear();
      // A PID stays taken while any process uses it as a session id, so it can be reused only once everything
      // of ours is gone: then a live leader with another start time is somebody else's session — leave it be.
      const leader = readProcStat(this.pid);
      const reused = leader !== null && this.leaderStartTime !== null && leader.startTime !== this.leaderStartTime;
      const survivors = reused ? [] : await endSessions([this.pid]);
      if (survivors.length > 0) this.log.error({ pid: this.pid }, 'processes survived SIGKILL');
      // The exit event follows the processes' end once node-pty has read the last output.
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, KILL_SETTLE_MS).unref())]);
      for (const state of this.clients.values()) state.client.close(CLOSE.GOING_AWAY, 'session closed');
      this.dispose();
    })();
    return this.ending;
  }

  /**
   * Releases everything the session owns (registered in `store` where it was made). Processes are ended by
   * terminate(); this only drops our handles.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.store.dispose();
    } finally {
      this.markExited();
    }
  }

  private join(state: ClientState, snapshot: ScreenSnapshot): void {
    if (this.clients.get(state.client) !== state) return;
    const { client } = state;
    client.sendMessage({
      type: 'hello',
      session: this.id,
      target: this.target,
      pid: this.pid,
      cols: snapshot.cols,
      rows: snapshot.rows,
      readOnly: client.readOnly,
      seq: snapshot.seq,
    });
    this.send(state, snapshot.screen, true);
    for (const event of snapshot.following) {
      if (event.kind === 'output') this.send(state, event.bytes);
      else client.sendMessage({ type: 'resized', cols: event.cols, rows: event.rows });
    }
    state.live = true;
    const where = this.whereWatcher.where;
    if (where) client.sendMessage({ type: 'where', where });
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
    if (this.clients.size === 0) this.whereWatcher.stop();
    if (!state.client.readOnly && --this.writers === 0) this.startGrace();
  }

  private send(state: ClientState, bytes: Buffer, replay = false): void {
    state.unacked += bytes.length;
    state.client.sendOutput(bytes, replay);
  }

  private broadcast(frame: Buffer): void {
    // Counted per frame, not per pty read: a flood is ~25,000 reads per 100 MB, and each count is a labelled
    // prom-client increment (~1 µs; 2% of the main thread's time in a flood, measured with --cpu-prof).
    this.opts.onBytes?.('out', frame.length);
    if (this.disposed) return;
    this.mirror.write(frame);
    for (const state of this.clients.values()) if (state.live) this.send(state, frame);
    this.updateFlow();
  }

  private fit(cols: number, rows: number): { cols: number; rows: number } {
    const { scrollback, screenCells = defaultScreenCells(scrollback) } = this.opts.config;
    return fitScreen(cols, rows, { scrollback, cells: screenCells });
  }

  /** The most recent resize from a writer wins (viewers cannot resize); every client is told, in stream order. */
  private resize(cols: number, rows: number): void {
    if (this.disposed || this.exitStatus || (cols === this.cols && rows === this.rows)) return;
    this.batcher.flush(); // output read before the resize was produced for the old size
    this.cols = cols;
    this.rows = rows;
    this.pty.resize(cols, rows);
    this.mirror.resize(cols, rows);
    for (const state of this.clients.values())
      if (state.live) state.client.sendMessage({ type: 'resized', cols, rows });
  }

  private updateFlow(): void {
    if (this.disposed || this.exitStatus) return;
    let worstWriter = 0;
    for (const state of this.clients.values()) {
      if (!state.live) continue;
      if (!state.client.readOnly) worstWriter = Math.max(worstWriter, state.unacked);
      else if (state.unacked > VIEWER_MAX_UNACKED_BYTES) this.dropSlowViewer(state);
    }
    this.flow.update(worstWriter, this.mirror.backlogBytes);
  }

  private dropSlowViewer(state: ClientState): void {
    this.log.info({ unacked: state.unacked }, 'disconnecting a viewer that is too far behind');
    state.client.sendMessage({
      type: 'error',
      code: 'VIEWER_TOO_SLOW',
      message: 'this viewer fell too far behind; reconnect to get the current screen',
    });
    state.client.close(CLOSE.VIEWER_TOO_SLOW, 'viewer too slow');
    this.detach(state);
  }

  private handleExit(code: number, signal: number | null): void {
    if (this.exitStatus) return;
    this.exitStatus = { code, signal };
    this.batcher.flush(); // every byte the shell wrote goes out before the exit message
    this.flow.dispose();
    this.whereWatcher.stop();
    this.log.info({ code, signal }, 'session exited');
    for (const state of this.clients.values()) {
      if (!state.live) continue; // a joining client gets the exit after its screen (see join)
      state.client.sendMessage({ type: 'exit', code, signal });
      state.client.close(CLOSE.SESSION_EXITED, 'session exited');
    }
    this.markExited();
    this.opts.onExit?.(this);
  }

  private startGrace(): void {
    this.graceTimer.clear();
    if (this.ending || this.disposed) return;
    const grace = this.everAttached
      ? this.opts.config.sessionGraceMs
      : Math.max(this.opts.config.sessionGraceMs, FIRST_ATTACH_WINDOW_MS);
    this.graceTimer.set(() => this.opts.onIdle(this), grace);
  }
}
