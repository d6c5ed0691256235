// Reactive state of one terminal pane. The pane owns its TerminalController while its DOM node is attached;
// the controller reports back through `events`, and actions (retarget, restart) go to it directly. The pane's
// session is remembered for this tab (lib/savedSessions.ts): a reload reattaches to the same shell.
import { untrack } from 'svelte';
import type { Target } from '../../../shared/api.js';
import type { WhereInfo } from '../../../shared/protocol.js';
import { exposeTerminal, type PaneName } from '../lib/hook.js';
import { loadSavedSession, saveSession, type SavedSession } from '../lib/savedSessions.js';
import { TerminalController, type TerminalEvents, type TerminalStatus } from '../terminal/TerminalController.js';
import { ShareLinkState } from './share.svelte.js';

export class PaneState {
  status = $state<TerminalStatus>('starting');
  /** plain-words reason for `error`, or extra detail for `exited` */
  detail = $state<string | null>(null);
  /** the server's error code when `error` came from creating the session */
  errorCode = $state<string | null>(null);
  /** where the shell's foreground process is now */
  where = $state.raw<WhereInfo | null>(null);
  session = $state.raw<{ id: string; target: Target; pid: number } | null>(null);
  exit = $state.raw<{ code: number; signal: number | null } | null>(null);
  target = $state.raw<Target>({ kind: 'host' });
  readonly share = new ShareLinkState(() => this.session?.id ?? null);
  private controller: TerminalController | null = null;
  /** the session this tab showed before a reload; used once, by the first attach */
  private saved: SavedSession | null;

  private readonly events: TerminalEvents = {
    status: (status, detail, code) => {
      this.status = status;
      this.detail = detail;
      this.errorCode = code ?? null;
      if (status === 'starting') this.exit = null;
    },
    session: (info) => {
      this.session = info;
      if (!info) return;
      this.target = info.target;
      saveSession(this.name, { id: info.id, target: info.target });
    },
    where: (where) => (this.where = where),
    exit: (code, signal) => (this.exit = { code, signal }),
  };

  constructor(
    readonly name: PaneName,
    /** the region's accessible name: "Outside terminal" / "Inside terminal" */
    readonly label: string,
  ) {
    this.saved = loadSavedSession(name);
    // A process target is never restarted from a stale record: its PID may belong to someone else by now.
    if (this.saved && this.saved.target.kind !== 'process') this.target = this.saved.target;
  }

  /** Svelte attachment: `<div {@attach pane.attach}>`. Creates the terminal, starts a shell; returns teardown. */
  attach = (el: HTMLElement): (() => void) => {
    const controller = new TerminalController(this.events);
    controller.open(el);
    const unexpose = exposeTerminal(this.name, controller.terminal);
    this.controller = controller;
    const saved = this.saved;
    this.saved = null;
    const target = untrack(() => this.target);
    void (saved ? controller.resume(saved.id, target) : controller.start(target));
    return () => {
      this.share.close();
      unexpose();
      if (this.controller === controller) this.controller = null;
      controller.dispose();
    };
  };

  /** End the current shell and open a new one on `target`. */
  retarget(target: Target): Promise<void> {
    this.target = target;
    return this.controller?.start(target) ?? Promise.resolve();
  }

  /** A new session on the same target (after the shell exited or the session was lost). */
  restart(): void {
    void this.controller?.start(this.target);
  }

  focus(): void {
    this.controller?.focus();
  }

  /** Feed `data` to the shell as if typed (through xterm's input path, so it is echoed); false when no terminal. */
  input(data: string): boolean {
    if (!this.controller) return false;
    this.controller.terminal.input(data);
    return true;
  }

  /** Selects the next (`backwards`: previous) match in the terminal; resolves to whether there was one. */
  async find(text: string, backwards = false): Promise<boolean> {
    if (!this.controller || !text) return false;
    return this.controller.find(text, backwards);
  }
}
