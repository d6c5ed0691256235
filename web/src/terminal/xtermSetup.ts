// The xterm Terminal both controllers use (the owner's panes and the read-only viewer): options, addons, the
// WebGL renderer with its DOM fallback, and the colour scheme. Returns the terminal and its teardown.
import { Terminal, type ITerminalOptions } from '@xterm/xterm';
import { WebglAddon } from '@xterm/addon-webgl';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { SearchAddon } from '@xterm/addon-search';
import '@xterm/xterm/css/xterm.css';
import { currentTheme, followColorScheme } from './theme.js';

export interface Xterm {
  terminal: Terminal;
  search: SearchAddon;
  /** undoes what createXterm set up (not the terminal itself: call `terminal.dispose()` after) */
  teardown: () => void;
}

export function createXterm(extra: ITerminalOptions = {}): Xterm {
  const terminal = new Terminal({
    allowProposedApi: true, // unicode11 and search decorations use proposed API
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace',
    fontSize: 13,
    scrollback: 5000,
    cursorBlink: true,
    theme: currentTheme(),
    ...extra,
  });
  const search = new SearchAddon();
  terminal.loadAddon(search);
  terminal.loadAddon(new WebLinksAddon());
  terminal.loadAddon(new Unicode11Addon());
  terminal.unicode.activeVersion = '11';
  const unfollow = followColorScheme((theme) => (terminal.options.theme = theme));
  return { terminal, search, teardown: unfollow };
}

/** After `terminal.open()`: the WebGL renderer when there is a GPU, else xterm keeps its DOM renderer. */
export function loadWebgl(terminal: Terminal): void {
  try {
    const webgl = new WebglAddon();
    webgl.onContextLoss(() => webgl.dispose()); // xterm falls back to its DOM renderer
    terminal.loadAddon(webgl);
  } catch (e) {
    // Expected without a GPU (e.g. headless with --disable-gpu): the DOM renderer is the fallback.
    console.info('nsconsole: WebGL renderer unavailable, using the DOM renderer:', e instanceof Error ? e.message : e);
  }
}

/** RIS (ESC c): a full reset that travels in order through xterm's write queue, unlike `term.reset()`. */
export const FULL_RESET = '\x1bc';
