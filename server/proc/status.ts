// /proc/self/status: what the server may do.
import { readFileSync } from 'node:fs';

/** capability(7) number of CAP_SYS_ADMIN. */
const CAP_SYS_ADMIN = 21n;

/** Whether the server's effective capabilities hold CAP_SYS_ADMIN; false when /proc/self/status cannot be read. */
export function hasCapSysAdmin(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && ((BigInt('0x' + m[1]) >> CAP_SYS_ADMIN) & 1n) === 1n;
  } catch {
    return false; // Swallow: without /proc/self/status we cannot tell; say "not privileged"
  }
}
