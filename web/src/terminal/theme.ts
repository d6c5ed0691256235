// Terminal colours that follow the OS colour scheme, like the page's CSS (prefers-color-scheme).
import type { ITheme } from '@xterm/xterm';

export const DARK_THEME: ITheme = {
  background: '#14161b',
  foreground: '#d8dee9',
  cursor: '#e5e9f0',
  cursorAccent: '#14161b',
  selectionBackground: '#3b4a66',
  black: '#1c1f26',
  red: '#e06c75',
  green: '#98c379',
  yellow: '#e5c07b',
  blue: '#61afef',
  magenta: '#c678dd',
  cyan: '#56b6c2',
  white: '#d8dee9',
  brightBlack: '#5c6370',
  brightRed: '#ef7f88',
  brightGreen: '#a9d48a',
  brightYellow: '#f0d08c',
  brightBlue: '#74bdf7',
  brightMagenta: '#d38ae8',
  brightCyan: '#6cc7d2',
  brightWhite: '#ffffff',
};

export const LIGHT_THEME: ITheme = {
  background: '#fbfbfc',
  foreground: '#24292f',
  cursor: '#24292f',
  cursorAccent: '#fbfbfc',
  selectionBackground: '#b6d3f7',
  black: '#24292f',
  red: '#c0392b',
  green: '#1a7f37',
  yellow: '#8a6100',
  blue: '#0550ae',
  magenta: '#8250df',
  cyan: '#1b7c83',
  white: '#6e7781',
  brightBlack: '#57606a',
  brightRed: '#d1242f',
  brightGreen: '#2da44e',
  brightYellow: '#9a6700',
  brightBlue: '#0969da',
  brightMagenta: '#a475f9',
  brightCyan: '#3192aa',
  brightWhite: '#8c959f',
};

const DARK_QUERY = '(prefers-color-scheme: dark)';

export function currentTheme(): ITheme {
  return window.matchMedia(DARK_QUERY).matches ? DARK_THEME : LIGHT_THEME;
}

/** Calls `apply` now and whenever the OS scheme changes; returns the teardown. */
export function followColorScheme(apply: (theme: ITheme) => void): () => void {
  const mq = window.matchMedia(DARK_QUERY);
  const onChange = () => apply(mq.matches ? DARK_THEME : LIGHT_THEME);
  onChange();
  mq.addEventListener('change', onChange);
  return () => mq.removeEventListener('change', onChange);
}
