// The caller's sandbox (--sandbox): its name for the header, and "Reset sandbox". Off (the server runs shells on
// the host) when whoami says so: then /api/sandbox is never asked (its 501 would be a console error on every load).
import type { SandboxInfoWire } from '../../../shared/api.js';
import { getSandbox, resetSandbox, whoami } from '../lib/api.js';

export type SandboxInfo = SandboxInfoWire;

export class SandboxState {
  info = $state<SandboxInfo | null>(null);
  resetting = $state(false);
  error = $state<string | null>(null);

  async load(): Promise<void> {
    try {
      this.info = (await whoami()).sandbox ? await getSandbox() : null;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
  }

  /** Destroys the sandbox and makes a new one; `then` reopens the shells (theirs ended with it). */
  async reset(then: () => void): Promise<void> {
    if (this.resetting) return;
    this.resetting = true;
    this.error = null;
    try {
      this.info = await resetSandbox();
      then();
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      this.resetting = false;
    }
  }
}
