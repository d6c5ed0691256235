// The scripting hook, like ttyd's `window.term`: `window.nsconsole.terminals.outside` / `.inside` are the live
// xterm Terminal objects (automation reads `.buffer.active`; a person can poke at them from devtools). The
// read-only viewer page (`/?session=…&view=…`) exposes its one terminal as `.shared`.
import type { Terminal } from '@xterm/xterm';

export type PaneName = 'outside' | 'inside';
export type HookName = PaneName | 'shared' | 'watched';

declare global {
  interface Window {
    nsconsole?: { terminals: Partial<Record<HookName, Terminal>> };
  }
}

export function exposeTerminal(name: HookName, terminal: Terminal): () => void {
  const hook = (window.nsconsole ??= { terminals: {} });
  hook.terminals[name] = terminal;
  return () => {
    if (hook.terminals[name] === terminal) delete hook.terminals[name];
  };
}
