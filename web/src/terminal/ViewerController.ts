// The read-only counterpart of TerminalController, for the shared-link viewer page: attaches to an existing
// session with its share token, never sends input or resizes (xterm's stdin is disabled and nothing listens to
// it), and takes the session's size from the server (`hello`, then `resized`), since the writer's size wins.
import type { Terminal } from '@xterm/xterm';
import type { ServerMessage, WhereInfo } from '../../../shared/protocol.js';
import { serverReachable, sessionAlive } from '../lib/api.js';
import { AckBatcher } from './ackBatcher.js';
import { SessionSocket, type EndReason } from './sessionSocket.js';
import type { TerminalStatus } from './TerminalController.js';
import { createXterm, FULL_RESET, loadWebgl } from './xtermSetup.js';

export interface ViewerEvents {
  status(status: TerminalStatus, detail: string | null): void;
  where(where: WhereInfo | null): void;
  size(cols: number, rows: number): void;
}

/**
 * A viewer may not ask the REST API about its session (that needs the owner). When its upgrades keep failing
 * while the server answers, the link is what failed: the session ended, so its share token went with it.
 */
async function viewerSessionAlive(): Promise<boolean | null> {
  return (await serverReachable()) ? false : null;
}

export class ViewerController {
  readonly terminal: Terminal;
  private readonly teardown: (() => void)[] = [];
  private readonly acks = new AckBatcher((bytes) => this.socket?.sendControl({ type: 'ack', bytes }));
  private socket: SessionSocket | null = null;
  private disposed = false;

  constructor(private readonly events: ViewerEvents) {
    const xterm = createXterm({ disableStdin: true, cursorBlink: false });
    this.terminal = xterm.terminal;
    this.teardown.push(xterm.teardown);
  }

  open(el: HTMLElement): void {
    this.terminal.open(el);
    void loadWebgl(this.terminal, () => this.disposed);
  }

  /**
   * Watch session `sessionId` with share token `token`, or (null) with the signed-in admin's own credentials,
   * which the server makes read-only for another user's session; reconnects by itself until the session ends.
   */
  watch(sessionId: string, token: string | null): void {
    const socket = new SessionSocket(
      sessionId,
      {
        output: (bytes, gen) => {
          this.acks.queued(bytes.length);
          this.terminal.write(bytes, () => {
            if (this.socket === socket && socket.generation === gen) this.acks.rendered(bytes.length);
          });
        },
        control: (msg) => this.onControl(msg),
        link: (state) => this.events.status(state, null),
        ended: (reason) => this.onEnded(reason),
      },
      token === null ? { alive: () => sessionAlive(sessionId) } : { viewToken: token, alive: viewerSessionAlive },
    );
    this.socket = socket;
    socket.start();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.socket?.dispose();
    this.socket = null;
    this.acks.reset();
    for (const fn of this.teardown.splice(0).reverse()) fn();
    this.terminal.dispose();
  }

  private onControl(msg: ServerMessage): void {
    switch (msg.type) {
      case 'hello':
        // The current screen follows: start from a clean terminal of the session's size, in write order.
        this.acks.reset();
        this.terminal.write(FULL_RESET);
        this.follow(msg.cols, msg.rows);
        break;
      case 'resized':
        this.follow(msg.cols, msg.rows);
        break;
      case 'where':
        this.events.where(msg.where);
        break;
      case 'exit':
        this.acks.flush();
        this.events.status('exited', null);
        break;
      case 'error':
        console.warn(`nsconsole: terminal error ${msg.code}: ${msg.message}`);
        break;
    }
  }

  /** Take the writer's size once the output written before the change has been parsed at the old size. */
  private follow(cols: number, rows: number): void {
    this.terminal.write('', () => {
      if (this.disposed) return;
      if (cols !== this.terminal.cols || rows !== this.terminal.rows) this.terminal.resize(cols, rows);
      this.events.size(cols, rows);
    });
  }

  private onEnded(reason: EndReason): void {
    this.socket = null;
    if (reason.kind === 'exited') this.events.status('exited', null);
    else if (reason.kind === 'gone')
      this.events.status('exited', 'The shared shell has ended, or this link is no longer valid.');
    else this.events.status('error', reason.message);
  }
}
