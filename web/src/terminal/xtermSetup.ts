// The xterm Terminal both controllers use (the owner's panes and the read-only viewer): options, addons, the
// WebGL renderer with its DOM fallback, and the colour scheme. Returns the terminal and its teardown.
//
// What the first screen does not need is loaded on demand (dynamic import: a chunk of its own that the page
// fetches only then): the WebGL renderer (~112 kB minified, never used on a software GL) and the search addon
// (~32 kB, first used when someone searches). The first load ships xterm itself, fit, unicode11 (widths must be
// right from the first replayed screen) and web-links.
import { Terminal, type ITerminalOptions } from '@xterm/xterm';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import type { SearchAddon } from '@xterm/addon-search';
import '@xterm/xterm/css/xterm.css';
import { currentTheme, followColorScheme } from './theme.js';

export interface Xterm {
  terminal: Terminal;
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
  terminal.loadAddon(new WebLinksAddon());
  terminal.loadAddon(new Unicode11Addon());
  terminal.unicode.activeVersion = '11';
  const unfollow = followColorScheme((theme) => (terminal.options.theme = theme));
  return { terminal, teardown: unfollow };
}

/**
 * After `terminal.open()`: the WebGL renderer when there is a GPU, else xterm keeps its DOM renderer. On a
 * software GL (SwiftShader, llvmpipe: e.g. Chromium with --disable-gpu or no GPU driver) WebGL rasterises on the
 * CPU and is the slower choice, so it is skipped there too. Measured with `seq 1 2000000` in headless Chromium
 * (--disable-gpu: SwiftShader) back to back on 2 loaded vCPUs: WebGL 1.1-1.8 MB/s, with 54% of the page's main
 * thread in native code (GL calls, "GPU stall due to ReadPixels"); the DOM renderer 4.7-5.4 MB/s.
 */
export async function loadWebgl(terminal: Terminal, disposed: () => boolean): Promise<void> {
  const software = softwareGl();
  if (software) {
    console.info(`nsconsole: software WebGL (${software}), using the DOM renderer`);
    return;
  }
  try {
    // The DOM renderer draws meanwhile; the swap happens once the chunk is here.
    const { WebglAddon } = await import('@xterm/addon-webgl');
    if (disposed()) return;
    const webgl = new WebglAddon();
    webgl.onContextLoss(() => webgl.dispose()); // xterm falls back to its DOM renderer
    terminal.loadAddon(webgl);
  } catch (e) {
    // Expected without any WebGL (or when the chunk cannot be fetched): the DOM renderer is the fallback.
    console.info('nsconsole: WebGL renderer unavailable, using the DOM renderer:', e instanceof Error ? e.message : e);
  }
}

/**
 * The search addon, loaded into `terminal` on first use. A terminal disposed meanwhile gets none (null). The
 * returned function is the one to keep: it loads once and hands the same addon to every later call.
 */
export function lazySearch(terminal: Terminal, disposed: () => boolean): () => Promise<SearchAddon | null> {
  let loading: Promise<SearchAddon | null> | undefined;
  return () =>
    (loading ??= import('@xterm/addon-search').then(
      ({ SearchAddon }) => {
        if (disposed()) return null;
        const search = new SearchAddon();
        terminal.loadAddon(search);
        return search;
      },
      (e: unknown) => {
        loading = undefined; // the chunk could not be fetched: the next search tries again
        throw e;
      },
    ));
}

let softwareGlCache: string | null | undefined;

/** The renderer's name when WebGL2 is rasterised on the CPU; null for a GPU, or when it cannot tell. */
function softwareGl(): string | null {
  if (softwareGlCache !== undefined) return softwareGlCache;
  softwareGlCache = null;
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    const name = gl && ext ? String(gl.getParameter(ext.UNMASKED_RENDERER_WEBGL)) : '';
    if (/swiftshader|llvmpipe|softpipe|software/i.test(name)) softwareGlCache = name;
    gl?.getExtension('WEBGL_lose_context')?.loseContext(); // give the probe's context back at once
  } catch {
    // Swallow: if the probe fails, WebglAddon decides by itself (and throws when there is no WebGL at all).
  }
  return softwareGlCache;
}

/** RIS (ESC c): a full reset that travels in order through xterm's write queue, unlike `term.reset()`. */
export const FULL_RESET = '\x1bc';
