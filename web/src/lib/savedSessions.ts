// Which shell session each pane of this tab shows, kept in sessionStorage so that a page reload reattaches to
// the same shells (the server replays their screens) instead of starting new ones. sessionStorage is per tab
// and is gone with it; what is read back is validated like anything else that crosses a boundary.
import * as z from 'zod/mini';
import { TargetInfoSchema, parseWire } from '../../../shared/api.js';

const SavedSessionSchema = z.object({ id: z.string(), target: TargetInfoSchema });
export type SavedSession = z.infer<typeof SavedSessionSchema>;

const key = (pane: string) => `nsconsole.session.${pane}`;

export function loadSavedSession(pane: string): SavedSession | null {
  let text: string | null;
  try {
    text = sessionStorage.getItem(key(pane));
  } catch {
    return null; // storage disabled (privacy settings): every load starts new shells, as before
  }
  return text === null ? null : parseWire(SavedSessionSchema, text);
}

export function saveSession(pane: string, saved: SavedSession | null): void {
  try {
    if (saved) sessionStorage.setItem(key(pane), JSON.stringify(saved));
    else sessionStorage.removeItem(key(pane));
  } catch {
    // Swallow: storage full or disabled; only reattach-on-reload is lost.
  }
}
