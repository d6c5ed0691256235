// Helpers for sandbox tests: a --sandbox server, a shell in it driven over the real WebSocket, and host-side
// checks that a destroyed sandbox left nothing behind.
import { readdirSync, readFileSync } from 'node:fs';
import type { SandboxConfig } from '../../server/config/config.js';
import { TermClient } from './term-client.js';
import { startServer, type TestServer } from './server.js';

const MIB = 1024 * 1024;

/** Small limits so the fork bomb, memory and disk tests hit them fast. */
export function sandboxConfig(uidStart: number, over: Partial<SandboxConfig> = {}): SandboxConfig {
  return {
    uidStart,
    uidCount: 2 * 65536,
    idleMs: 600_000,
    pidsMax: 64,
    memoryBytes: 128 * MIB,
    diskBytes: 16 * MIB,
    ...over,
  };
}

export function startSandboxServer(uidStart: number, over: Partial<SandboxConfig> = {}): Promise<TestServer> {
  // /bin/bash: the test helper's norc wrapper lives under the host's /tmp, which a sandbox does not see.
  return startServer({ sandbox: sandboxConfig(uidStart, over), shell: '/bin/bash' });
}

export class SandboxShell {
  private n = 0;
  constructor(
    readonly client: TermClient,
    readonly sessionId: string,
    readonly pid: number,
  ) {}

  static async open(server: TestServer, target: unknown = { kind: 'host' }): Promise<SandboxShell> {
    const res = await server.api('/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ target, cols: 160, rows: 50 }),
    });
    if (res.status !== 201) throw new Error(`POST /api/sessions: ${res.status} ${await res.text()}`);
    const { id, pid } = (await res.json()) as { id: string; pid: number };
    const client = new TermClient(server.ws(`/ws/sessions/${id}`));
    await client.opened;
    await client.waitForText(/[#$] $/m, 15_000);
    return new SandboxShell(client, id, pid);
  }

  /** Runs one command line; resolves with its exit status and the output between the command and the marker. */
  async run(command: string, timeoutMs = 15_000): Promise<{ code: number; output: string }> {
    const n = ++this.n;
    const marker = new RegExp(`__RC=(\\d+)__${n}__`);
    const typed = `__${n}__"`;
    this.client.type(`${command}; echo "__RC=$?__${n}__"\r`);
    await this.client.waitForText(marker, timeoutMs);
    const text = this.client.text();
    const start = text.lastIndexOf(typed) + typed.length;
    const rest = text.slice(start);
    const m = marker.exec(rest);
    return { code: Number(m?.[1]), output: rest.slice(0, m?.index ?? rest.length).trim() };
  }

  dispose(): void {
    this.client.dispose();
  }
}

interface HostProcess {
  pid: number;
  name: string;
  ppid: string;
  zombie: boolean;
}

/** Host processes whose real uid lies in [base, base + count), zombies included. */
function processesWithUidIn(base: number, count: number): HostProcess[] {
  const out: HostProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const field = (key: string) => new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '';
      const uid = Number(/^(\d+)/.exec(field('Uid'))?.[1]);
      if (uid < base || uid >= base + count) continue;
      out.push({ pid: Number(name), name: field('Name'), ppid: field('PPid'), zombie: field('State').startsWith('Z') });
    } catch {
      // Swallow: exited (or reaped) while we looked
    }
  }
  return out;
}

/** Host PIDs whose real uid lies in [base, base + count); a zombie has exited, waiting for its parent to reap it. */
export function hostPidsWithUidIn(base: number, count: number): number[] {
  return processesWithUidIn(base, count)
    .filter((p) => !p.zombie)
    .map((p) => p.pid);
}

/** Zombies whose uid is in the range, as `PID (comm) parent PPID`: exited, and nobody has reaped them yet. */
export function zombiesWithUidIn(base: number, count: number): string[] {
  return processesWithUidIn(base, count)
    .filter((p) => p.zombie)
    .map((p) => `${p.pid} (${p.name}) parent ${p.ppid}`);
}

/** Lines of the host's (the test process's) mount table that a sandbox would have made. */
export function hostSandboxMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - (tmpfs|overlay) sandbox(-etc)? /.test(l));
}

/** The header naming a sandbox's user in these tests (`authHeader`; loopback is a trusted proxy by default). */
export const SANDBOX_USER_HEADER = 'X-User';

/** The server as a user named by the proxy header (from loopback, a trusted proxy by default): no token. */
export function asUser(server: TestServer, user: string): TestServer {
  return {
    ...server,
    api: (pathname, init = {}) =>
      server.api(pathname, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string> | undefined),
          authorization: '',
          [SANDBOX_USER_HEADER]: user,
        },
      }),
    ws: (pathname) => server.ws(pathname, { [SANDBOX_USER_HEADER]: user }),
  };
}

/** A JSON answer, or an error naming the status and body. */
export async function json<T>(res: Promise<Response>): Promise<T> {
  const r = await res;
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}
