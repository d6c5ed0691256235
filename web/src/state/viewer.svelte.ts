// State of the read-only viewer page (`/?session=ID&view=TOKEN`): one shared terminal, watched through its
// share token. Nothing here calls /api/* beyond /api/health: a viewer has no owner token.
import type { WhereInfo } from '../../../shared/protocol.js';
import { exposeTerminal } from '../lib/hook.js';
import type { ShareParams } from '../lib/shareParams.js';
import type { TerminalStatus } from '../terminal/TerminalController.js';
import { ViewerController, type ViewerEvents } from '../terminal/ViewerController.js';

export class ViewerState {
  status = $state<TerminalStatus>('starting');
  detail = $state<string | null>(null);
  where = $state.raw<WhereInfo | null>(null);
  /** the session's size, which the viewer follows */
  size = $state.raw<{ cols: number; rows: number } | null>(null);

  private readonly events: ViewerEvents = {
    status: (status, detail) => {
      this.status = status;
      this.detail = detail;
    },
    where: (where) => (this.where = where),
    size: (cols, rows) => (this.size = { cols, rows }),
  };

  constructor(readonly link: ShareParams) {}

  /** Svelte attachment for the terminal's node; returns the teardown. */
  attach = (el: HTMLElement): (() => void) => {
    const controller = new ViewerController(this.events);
    controller.open(el);
    const unexpose = exposeTerminal('shared', controller.terminal);
    if (this.link.sessionId && this.link.token) controller.watch(this.link.sessionId, this.link.token);
    else this.events.status('error', 'This share link is incomplete: it needs both ?session= and ?view=.');
    return () => {
      unexpose();
      controller.dispose();
    };
  };
}
