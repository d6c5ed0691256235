// A terminal session frees everything it made (server/terminals/session.ts registers each thing in its
// DisposableStore where it makes it): after terminate(), and when it fails half-way through its constructor.
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { MirrorHost } from '../../server/terminals/mirror/mirror-host.js';
import { SNAPSHOT_BOUNDARY_WAIT_MS } from '../../server/terminals/mirror/screen-mirror.js';
import type { ServerMessage } from '../../shared/protocol.js';
import { TerminalSession, type SessionOptions } from '../../server/terminals/session.js';
import { hermeticShell } from '../helpers/terminal-harness.js';
import { waitUntil } from '../helpers/proc.js';

const log = createLogger('silent');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function options(host: MirrorHost, shell: string, verify?: () => void): SessionOptions {
  return {
    id: 'disposal-test',
    target: { kind: 'host' },
    spec: {
      file: shell,
      args: [],
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', TERM: 'xterm-256color' },
      description: 'host',
      ...(verify ? { verify } : {}),
    },
    cols: 80,
    rows: 24,
    config: { sessionGraceMs: 60_000, maxClientsPerSession: 4, scrollback: 1000 },
    log,
    mirrorHost: host,
    onIdle: () => {},
  };
}

/**
 * The pty's handles (TTYWrap, PipeWrap) and the timers (Timeout), counted from process.getActiveResourcesInfo().
 * (Not MessagePort: under vitest one stays listed after the mirror worker has exited, which plain node does not
 * show; the worker itself is checked through the host.)
 */
function resources(): { handles: number; timers: number } {
  const all = process.getActiveResourcesInfo();
  return {
    handles: all.filter((r) => r === 'TTYWrap' || r === 'PipeWrap').length,
    timers: all.filter((r) => r === 'Timeout').length,
  };
}

describe('a terminal session', () => {
  it('leaves no timer, handle or replay screen behind once terminated', async () => {
    const { shell, cleanup } = hermeticShell();
    cleanups.push(cleanup);
    const host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
    cleanups.push(() => host.dispose());
    const before = resources();
    const session = new TerminalSession(options(host, shell));
    cleanups.push(() => session.terminate());
    expect(host.openTerminals).toBe(1);
    expect(resources().handles).toBeGreaterThan(before.handles); // the pty
    expect(resources().timers).toBeGreaterThan(before.timers); // its grace timer
    // A client joins (its screen comes from the mirror worker, which is then up) and is still attached at the end.
    const messages: ServerMessage[] = [];
    session.attach({ readOnly: false, sendOutput: () => {}, sendMessage: (m) => messages.push(m), close: () => {} });
    await waitUntil(() => messages.some((m) => m.type === 'hello'), 'hello');
    await session.terminate();
    expect(host.openTerminals).toBe(0);
    // The pty's fd and the mirror worker close asynchronously after the synchronous dispose.
    const back = () => resources().handles <= before.handles && resources().timers <= before.timers;
    await waitUntil(
      back,
      `handles and timers back to ${JSON.stringify(before)} (now ${JSON.stringify(resources())})`,
      20_000,
    );
  });

  it('frees its replay screen when the target check fails before the spawn', () => {
    const { shell, cleanup } = hermeticShell();
    cleanups.push(cleanup);
    const host = new MirrorHost(SNAPSHOT_BOUNDARY_WAIT_MS);
    cleanups.push(() => host.dispose());
    expect(
      () =>
        new TerminalSession(
          options(host, shell, () => {
            throw new AppError('TARGET_CHANGED', 'the namespace changed');
          }),
        ),
    ).toThrow('the namespace changed');
    expect(host.openTerminals).toBe(0);
  });
});
