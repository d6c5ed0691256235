// Reactive state of one terminal pane. The pane owns its TerminalController while its DOM node is attached;
// the controller reports back through `events`, and actions (retarget, restart) go to it directly.
import { untrack } from 'svelte';
import type { Target } from '../../../shared/api.js';
import type { WhereInfo } from '../../../shared/protocol.js';
import { exposeTerminal, type PaneName } from '../lib/hook.js';
import { TerminalController, type TerminalEvents, type TerminalStatus } from '../terminal/TerminalController.js';

export class PaneState {
  status = $state<TerminalStatus>('starting');
  /** plain-words reason for `error`, or extra detail for `exited` */
  detail = $state<string | null>(null);
  /** where the shell's foreground process is now */
  where = $state.raw<WhereInfo | null>(null);
  session = $state.raw<{ id: string; target: Target; pid: number } | null>(null);
  exit = $state.raw<{ code: number; signal: number | null } | null>(null);
  target = $state.raw<Target>({ kind: 'host' });
  private controller: TerminalController | null = null;

  private readonly events: TerminalEvents = {
    status: (status, detail) => {
      this.status = status;
      this.detail = detail;
      if (status === 'starting') this.exit = null;
    },
    session: (info) => (this.session = info),
    where: (where) => (this.where = where),
    exit: (code, signal) => (this.exit = { code, signal }),
  };

  constructor(
    readonly name: PaneName,
    /** the region's accessible name: "Outside terminal" / "Inside terminal" */
    readonly label: string,
  ) {}

  /** Svelte attachment: `<div {@attach pane.attach}>`. Creates the terminal, starts a shell; returns teardown. */
  attach = (el: HTMLElement): (() => void) => {
    const controller = new TerminalController(this.events);
    controller.open(el);
    const unexpose = exposeTerminal(this.name, controller.terminal);
    this.controller = controller;
    void controller.start(untrack(() => this.target));
    return () => {
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

  find(text: string, backwards = false): boolean {
    if (!this.controller || !text) return false;
    return backwards ? this.controller.findPrevious(text) : this.controller.findNext(text);
  }
}
