// Which shell session each pane of this tab shows, kept in sessionStorage so that a page reload reattaches to
// the same shells (the server replays their screens) instead of starting new ones. sessionStorage is per tab
// and is gone with it; what is read back is validated like anything else that crosses a boundary.
import type { Target } from '../../../shared/api.js';
import { isObj, isStr, isTarget, parseJson } from './guards.js';

export interface SavedSession {
  id: string;
  target: Target;
}

const key = (pane: string) => `nsconsole.session.${pane}`;

export function loadSavedSession(pane: string): SavedSession | null {
  let text: string | null;
  try {
    text = sessionStorage.getItem(key(pane));
  } catch {
    return null; // storage disabled (privacy settings): every load starts new shells, as before
  }
  const v = text === null ? undefined : parseJson(text);
  return isObj(v) && isStr(v.id) && isTarget(v.target) ? { id: v.id, target: v.target } : null;
}

export function saveSession(pane: string, saved: SavedSession | null): void {
  try {
    if (saved) sessionStorage.setItem(key(pane), JSON.stringify(saved));
    else sessionStorage.removeItem(key(pane));
  } catch {
    // Swallow: storage full or disabled; only reattach-on-reload is lost.
  }
}
