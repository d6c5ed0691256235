// Bench helpers for --sandbox: many users on one server (each named by the trusted-proxy header, so each gets a
// sandbox of their own), a shell opened as one of them, and what the sandboxes' processes use.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { sandboxCgroupDirs } from '../../server/sandbox/cgroups.js';
import { TermClient } from '../helpers/term-client.js';

export const USER_HEADER = 'X-User';

/** A server as one user: requests and sockets carry the user header (from loopback: a trusted proxy), no token. */
export interface UserApi {
  api(pathname: string, init?: RequestInit): Promise<Response>;
  ws(pathname: string): WebSocket;
}

export function asUser(base: string, user: string): UserApi {
  const wsBase = base.replace(/^http/, 'ws');
  return {
    api: (pathname, init = {}) =>
      fetch(base + pathname, {
        ...init,
        headers: {
          [USER_HEADER]: user,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...(init.headers as Record<string, string> | undefined),
        },
      }),
    ws: (pathname) => new WebSocket(wsBase + pathname, { headers: { [USER_HEADER]: user } }),
  };
}

/** POST /api/sessions (target host: the user's sandbox) and attach, until the shell's prompt shows. */
export async function openShell(u: UserApi): Promise<{ client: TermClient; id: string }> {
  const res = await u.api('/api/sessions', {
    method: 'POST',
    body: JSON.stringify({ target: { kind: 'host' }, cols: 160, rows: 50 }),
  });
  if (res.status !== 201) throw new Error(`POST /api/sessions: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const client = new TermClient(u.ws(`/ws/sessions/${id}`));
  await client.opened;
  await client.waitForText(/[#$] $/m, 15_000);
  return { client, id };
}

function statusKiB(pid: number, field: 'VmRSS'): number {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // Swallow: exited while measured
  }
}

export const rssKiB = (pid: number): number => statusKiB(pid, 'VmRSS');

/** Proportional set size: shared pages (perl, bash, libc) split among the processes sharing them. */
export function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // Swallow: exited while measured
  }
}

/** Every process in the sandbox cgroups of the server with PID `serverPid` (each sandbox's unshare, init, nsenter, shells). */
export function sandboxPids(serverPid: number): number[] {
  const pids = new Set<number>();
  for (const dir of sandboxCgroupDirs(true)) {
    if (!path.basename(dir).startsWith(`nsconsole-sandbox-${serverPid}-`)) continue;
    try {
      for (const line of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n'))
        if (line) pids.add(Number(line));
    } catch {
      // Swallow: removed while read (a sandbox being destroyed)
    }
  }
  return [...pids];
}
