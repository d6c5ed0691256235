// The "Share read-only link" popover of one pane: asks the server for a viewer link to the pane's session and
// copies it. The link is the session's one viewer token (the same on every ask) and dies with the session.
import { createShareLink } from '../lib/api.js';

/** How long "Copied" shows on the copy button. */
const COPIED_FEEDBACK_MS = 2000;

export class ShareLinkState {
  open = $state(false);
  url = $state<string | null>(null);
  error = $state<string | null>(null);
  busy = $state(false);
  copied = $state(false);
  private copiedTimer: ReturnType<typeof setTimeout> | undefined;
  private ask = 0;

  constructor(private readonly sessionId: () => string | null) {}

  /** Open the popover and fetch the link for the current session. */
  async show(): Promise<void> {
    const id = this.sessionId();
    const ask = ++this.ask;
    this.open = true;
    this.url = null;
    this.error = null;
    this.copied = false;
    if (!id) {
      this.error = 'There is no running shell to share.';
      return;
    }
    this.busy = true;
    try {
      const link = await createShareLink(id);
      if (ask === this.ask) this.url = link.url;
    } catch (e) {
      if (ask === this.ask) this.error = e instanceof Error ? e.message : String(e);
    } finally {
      if (ask === this.ask) this.busy = false;
    }
  }

  close(): void {
    this.ask++;
    this.open = false;
    this.busy = false;
    clearTimeout(this.copiedTimer);
    this.copied = false;
  }

  /** Copy the link; `field` is the text box showing it (the fallback outside a secure context). */
  async copy(field: HTMLInputElement | null): Promise<void> {
    if (!this.url) return;
    let ok = false;
    if (window.isSecureContext && navigator.clipboard) {
      ok = await navigator.clipboard.writeText(this.url).then(
        () => true,
        () => false, // e.g. permission refused: fall back to selecting and execCommand
      );
    }
    if (!ok && field) {
      field.select();
      ok = document.execCommand('copy');
    }
    if (!ok) {
      this.error = 'Could not copy: select the link and copy it yourself.';
      return;
    }
    this.copied = true;
    clearTimeout(this.copiedTimer);
    this.copiedTimer = setTimeout(() => (this.copied = false), COPIED_FEEDBACK_MS);
  }
}
