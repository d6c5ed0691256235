// The caller's sandbox (--sandbox): its name for the header, and "Reset sandbox". Off (the server runs shells on
// the host) when the server answers NOT_SUPPORTED.
import { ApiError, getSandbox, resetSandbox } from '../lib/api.js';

export interface SandboxInfo {
  id: string;
  hostname: string;
  uidBase: number;
}

function isSandboxInfo(v: unknown): v is SandboxInfo {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.id === 'string' && typeof o.hostname === 'string' && Number.isInteger(o.uidBase);
}

export class SandboxState {
  info = $state<SandboxInfo | null>(null);
  resetting = $state(false);
  error = $state<string | null>(null);

  async load(): Promise<void> {
    try {
      const v = await getSandbox();
      this.info = isSandboxInfo(v) ? v : null;
    } catch (e) {
      // NOT_SUPPORTED: sandbox mode is off, and the header shows nothing of it.
      if (e instanceof ApiError && e.code === 'NOT_SUPPORTED') this.info = null;
      else this.error = e instanceof Error ? e.message : String(e);
    }
  }

  /** Destroys the sandbox and makes a new one; `then` reopens the shells (theirs ended with it). */
  async reset(then: () => void): Promise<void> {
    if (this.resetting) return;
    this.resetting = true;
    this.error = null;
    try {
      const v = await resetSandbox();
      if (isSandboxInfo(v)) this.info = v;
      then();
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      this.resetting = false;
    }
  }
}
