// Entering namespaces that an ordinary user owns (issue #15 1b): the shell runs with that user's powers, never
// as root, and the listing says who owns them. Entering by verified fds (issue #16 item 5): a path swapped
// under the server never gets a shell into another namespace than the one asked for.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace, SessionInfo } from '../../shared/api.js';
import { nsfsDev, openNamespace } from '../../server/kernel/nsfs.js';
import { createLauncher, type NamespaceEntryResolver } from '../../server/terminals/launch.js';
import { KernelFixtures } from '../helpers/kernel.js';
import { childPids, waitUntil } from '../helpers/proc.js';
import { startServer, type TestServer } from '../helpers/server.js';

const NOBODY = 65534;
const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];
/** Sessions a test opens before the server's create rate (burst 20, 5/s) makes it wait: see createSession. */
const RATE_LIMIT_WAIT_MS = 250;

const nsLink = (pid: number | 'self', type: string): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/${type}`).replace(/^(\w+):\[(\d+)\]$/, '$1:$2');
  } catch {
    return null;
  }
};

/** Host uids (real, effective, saved, fs) of a process, or null when it is gone. */
function uidsOf(pid: number): number[] | null {
  try {
    const line = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
    return line.split(/\s+/).map(Number);
  } catch {
    return null;
  }
}

/** The program a process runs now (`comm`), or null once it is gone. */
function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Our own open fds on namespace `id` (by path or by /proc/PID/ns): any left after the shells entered would leak. */
function ourFdsOn(id: string): number {
  const inode = Number(id.slice(id.indexOf(':') + 1));
  const nsfs = statSync('/proc/self/ns/user').dev;
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const st = statSync(`/proc/self/fd/${fd}`);
      if (st.dev === nsfs && st.ino === inode) n++;
    } catch {
      // Swallow: the fd was closed while listing (readdir's own fd, a socket that just closed).
    }
  }
  return n;
}

const fixtures = new KernelFixtures();
const children: ChildProcess[] = [];
let srv: TestServer;

function holder(argv: string[]): ChildProcess {
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
  children.push(child);
  return child;
}

async function killAll(): Promise<void> {
  await Promise.all(
    children.splice(0).map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }),
  );
}

/** POST /api/sessions, waiting out the create rate limit; resolves with the status and the body. */
async function createSession(
  target: object,
): Promise<{ status: number; body: SessionInfo & { error?: { code: string; message: string } } }> {
  for (;;) {
    const res = await srv.api('/api/sessions', { method: 'POST', body: JSON.stringify({ target }) });
    const body = (await res.json()) as SessionInfo & { error?: { code: string; message: string } };
    if (res.status !== 429) return { status: res.status, body };
    await new Promise((r) => setTimeout(r, RATE_LIMIT_WAIT_MS));
  }
}

const endSession = (id: string) => srv.api(`/api/sessions/${id}`, { method: 'DELETE' });

beforeAll(async () => {
  srv = await startServer();
  // The test shell wrapper must be reachable by a shell that runs as nobody.
  chmodSync(path.dirname(srv.config.shell), 0o755);
});
afterAll(async () => {
  await srv?.close();
});
afterEach(async () => {
  await killAll();
  await fixtures.cleanup();
});

describe('a mount namespace nobody owns (#15 1b)', () => {
  /** A nobody-owned mount namespace whose /bin/bash is a fake that records who ran it, then sleeps. */
  async function fakeBashNamespace(): Promise<{ pid: number; mnt: string; userns: string; marker: string }> {
    const dir = fixtures.tempDir('nsconsole-untrusted-');
    chmodSync(dir, 0o755);
    const out = path.join(dir, 'out');
    writeFileSync(path.join(dir, 'fakebash'), '#!/bin/sh\nid -u > /mnt/marker\nexec sleep 600\n', { mode: 0o755 });
    // Static scripts, paths passed as arguments: /mnt inside their namespace is our out dir.
    writeFileSync(
      path.join(dir, 'holder.sh'),
      '#!/bin/sh\nset -e\nmount --bind "$1/out" /mnt\nmount --bind "$1/fakebash" /bin/bash\nmount --bind "$1/fakebash" /usr/bin/bash\ntouch /mnt/ready\nexec sleep 600\n',
      { mode: 0o755 },
    );
    mkdirSync(out);
    chmodSync(out, 0o777);
    const child = holder(['setpriv', ...asNobody, 'unshare', '-Urm', path.join(dir, 'holder.sh'), dir]);
    await waitUntil(() => existsSync(path.join(out, 'ready')), 'the fake bash in place');
    const pid = child.pid as number;
    return {
      pid,
      mnt: nsLink(pid, 'mnt') as string,
      userns: nsLink(pid, 'user') as string,
      marker: path.join(out, 'marker'),
    };
  }

  it('is listed as untrusted with its owner', async () => {
    const ns = await fakeBashNamespace();
    const list = (await (await srv.api('/api/namespaces?type=mnt')).json()) as { namespaces: Namespace[] };
    const row = list.namespaces.find((n) => n.id === ns.mnt);
    expect(row?.owner).toEqual({ uid: NOBODY, user: 'nobody', userns: ns.userns });
    expect(row?.untrusted?.reason).toMatch(/^owned by nobody \(uid 65534\) through user:\[\d+\];.*never as root/);
    const self = list.namespaces.find((n) => n.self);
    expect(self?.untrusted).toBeUndefined();
    expect(self?.owner?.userns).toBe(nsLink('self', 'user'));
  });

  it('a click on it never runs their bash as root: it runs as its owner', async () => {
    const ns = await fakeBashNamespace();
    const { status, body } = await createSession({ kind: 'namespace', id: ns.mnt });
    expect(status).toBe(201);
    // The fake ran (it is their namespace's /bin/bash), but as uid 0 of their user namespace = nobody here.
    await waitUntil(() => existsSync(ns.marker), 'the fake bash to run');
    expect(statSync(ns.marker).uid).toBe(NOBODY);
    // …and has settled in `sleep` (its last exec): until then the fake's sh holds a redirection's fds for a
    // moment, and an fd closed between listing and stat-ing it failed the check below once.
    await waitUntil(
      () =>
        nsLink(body.pid, 'mnt') === ns.mnt &&
        uidsOf(body.pid)?.every((u) => u === NOBODY) === true &&
        commOf(body.pid) === 'sleep',
      'the shell in their namespace as nobody',
    );
    expect(nsLink(body.pid, 'user')).toBe(ns.userns);
    // The shell holds no namespace fd of ours (they are close-on-exec): nothing to setns back with.
    const nsfs = statSync('/proc/self/ns/user').dev;
    expect(
      readdirSync(`/proc/${body.pid}/fd`).filter((fd) => statSync(`/proc/${body.pid}/fd/${fd}`).dev === nsfs),
    ).toEqual([]);
    // The fds the server opened for nsenter are closed once the shell is in.
    await waitUntil(() => ourFdsOn(ns.mnt) === 0 && ourFdsOn(ns.userns) === 0, 'no fd left on their namespaces');
    await endSession(body.id);
  });

  it('hands nsenter its own verified fds (user namespace first) and closes them when no shell starts', async () => {
    const ns = await fakeBashNamespace();
    const engine: NamespaceEntryResolver = {
      async entryFor(id) {
        const fd = openNamespace(`/proc/${ns.pid}/ns/mnt`, 'mnt', Number(id.slice(4)), {
          follow: true,
          dev: nsfsDev(),
        });
        if (fd === null) throw new Error(`${id} is gone`);
        return { type: 'mnt', id, fd };
      },
    };
    const spec = await createLauncher({ shell: '/bin/bash', engine })({ kind: 'namespace', id: ns.mnt });
    const fd = `/proc/${process.pid}/fd/\\d+`;
    expect(spec.args.join(' ')).toMatch(new RegExp(`^--user=${fd} --mount=${fd} --wdns=/ -- /bin/bash$`));
    expect([ourFdsOn(ns.userns), ourFdsOn(ns.mnt)]).toEqual([1, 1]);
    spec.started?.(null); // verify threw or the spawn failed
    expect([ourFdsOn(ns.userns), ourFdsOn(ns.mnt)]).toEqual([0, 0]);
  });

  it('a process in it is entered as its owner too, also a root process that only joined its mount namespace', async () => {
    const ns = await fakeBashNamespace();
    // root, still in the initial user namespace, inside their mount namespace (as an older nsconsole shell was)
    const rootInside = holder(['nsenter', `--mount=/proc/${ns.pid}/ns/mnt`, '--', '/usr/bin/sleep', '600']);
    await waitUntil(() => nsLink(rootInside.pid as number, 'mnt') === ns.mnt, 'root inside their mount namespace');
    for (const pid of [ns.pid, rootInside.pid as number]) {
      const { status, body } = await createSession({ kind: 'process', pid });
      expect(status).toBe(201);
      await waitUntil(() => existsSync(ns.marker), `the fake bash to run for process ${pid}`);
      expect(statSync(ns.marker).uid).toBe(NOBODY);
      await waitUntil(
        () => nsLink(body.pid, 'mnt') === ns.mnt && uidsOf(body.pid)?.every((u) => u === NOBODY) === true,
        `the shell for process ${pid} as nobody`,
      );
      rmSync(ns.marker);
      await endSession(body.id);
    }
  });

  // Six sessions, each a full namespace scan first: ~1.5 s idle, far more while other tests stack mounts.
  it(
    'every other type of theirs is entered as its owner too (uts, ipc, net, pid, cgroup, time)',
    { timeout: 60_000 },
    async () => {
      const child = holder([
        'setpriv',
        ...asNobody,
        'unshare',
        '-Urmniu',
        '--pid',
        '--fork',
        '--cgroup',
        '--time',
        '--',
        'sleep',
        '600',
      ]);
      // unshare --fork: the sleep is unshare's child, in every new namespace.
      let sleeper = 0;
      await waitUntil(
        () =>
          (sleeper = childPids(child.pid as number)[0] ?? 0) > 0 && nsLink(sleeper, 'pid') !== nsLink('self', 'pid'),
        'their namespaces',
      );
      const userns = nsLink(sleeper, 'user');
      for (const type of ['uts', 'ipc', 'net', 'pid', 'cgroup', 'time']) {
        const id = nsLink(sleeper, type) as string;
        expect(id).not.toBe(nsLink('self', type));
        const { status, body } = await createSession({ kind: 'namespace', id });
        expect(status, JSON.stringify(body)).toBe(201);
        // A pid namespace is entered by nsenter's child: look at the whole session.
        const inTheirs = () =>
          [body.pid, ...childPids(body.pid)].find((p) => nsLink(p, type) === id && commOf(p) !== 'nsenter');
        await waitUntil(() => inTheirs() !== undefined, `a shell in their ${type} namespace`);
        const shell = inTheirs() as number;
        expect(uidsOf(shell), type).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
        expect(nsLink(shell, 'user')).toBe(userns);
        await endSession(body.id);
      }
    },
  );

  it('a root-owned mount namespace is still entered as root', async () => {
    const child = holder(['unshare', '--mount', '--propagation', 'private', '--', 'sleep', '600']);
    const pid = child.pid as number;
    await waitUntil(
      () => nsLink(pid, 'mnt') !== null && nsLink(pid, 'mnt') !== nsLink('self', 'mnt'),
      'the root-owned namespace',
    );
    const mnt = nsLink(pid, 'mnt') as string;
    const { status, body } = await createSession({ kind: 'namespace', id: mnt });
    expect(status).toBe(201);
    await waitUntil(() => nsLink(body.pid, 'mnt') === mnt, 'the shell inside');
    expect(uidsOf(body.pid)).toEqual([0, 0, 0, 0]);
    expect(nsLink(body.pid, 'user')).toBe(nsLink('self', 'user'));
    await endSession(body.id);
  });
});

describe('a namespace path swapped while it is entered (#16 item 5)', () => {
  /** Bounded: 40 sessions, each polled for at most SHELL_ENTER_MS. */
  const ATTEMPTS = 40;
  const SHELL_ENTER_MS = 5000;

  it('enters exactly the verified namespace, never the host one', { timeout: 60_000 }, async () => {
    const dir = fixtures.tempDir('nsconsole-swap-');
    chmodSync(dir, 0o755);
    const tmpfs = path.join(dir, 'fs');
    const out = path.join(dir, 'out');
    mkdirSync(tmpfs);
    mkdirSync(out);
    chmodSync(out, 0o777);
    // renameat2(x, y, RENAME_EXCHANGE) in a loop: y is a symlink to /proc/self/ns, which the server resolves as
    // its own (the host's) namespaces.
    const swapper =
      'import ctypes, sys, time\nlibc = ctypes.CDLL(None, use_errno=True)\nx, y = (sys.argv[1] + "/x").encode(), (sys.argv[1] + "/y").encode()\nwhile True:\n    libc.renameat2(-100, x, -100, y, 2)\n    time.sleep(0.0002)\n';
    writeFileSync(path.join(dir, 'swap.py'), swapper, { mode: 0o644 });
    writeFileSync(
      path.join(dir, 'holder.sh'),
      '#!/bin/sh\nset -e\nmount -t tmpfs none "$1/fs"\nmkdir "$1/fs/x"\ntouch "$1/fs/x/net"\nunshare --net="$1/fs/x/net" true\nln -s /proc/self/ns "$1/fs/y"\nstat -c %i "$1/fs/x/net" > "$1/out/ino"\nexec python3 "$1/swap.py" "$1/fs"\n',
      { mode: 0o755 },
    );
    holder(['setpriv', ...asNobody, 'unshare', '-Urm', path.join(dir, 'holder.sh'), dir]);
    const inoFile = path.join(out, 'ino');
    await waitUntil(
      () => existsSync(inoFile) && readFileSync(inoFile, 'utf8').endsWith('\n'),
      'their persisted net namespace',
    );
    const theirs = `net:${readFileSync(inoFile, 'utf8').trim()}`;
    const hostNet = nsLink('self', 'net');

    const entered: string[] = [];
    const refusals: string[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const { status, body } = await createSession({ kind: 'namespace', id: theirs });
      if (status !== 201) {
        refusals.push(`${status} ${body.error?.code}`);
        continue;
      }
      // Once nsenter has exec'd the shell (the wrapper, then bash) or failed, its net namespace is where it stays.
      await waitUntil(
        () => ['bash-norc', 'bash', null].includes(commOf(body.pid)),
        'nsenter to exec the shell',
        SHELL_ENTER_MS,
      );
      const net = nsLink(body.pid, 'net');
      if (net !== null) entered.push(net);
      await endSession(body.id);
    }
    expect(
      entered.every((net) => net === theirs),
      `entered ${entered.join(' ')}; theirs ${theirs}, the host's ${hostNet}`,
    ).toBe(true);
    expect(entered.length).toBeGreaterThan(0);
    // 409: the server saw the path swapped and refused (try again); nothing else.
    expect(refusals.filter((r) => r !== '409 TARGET_CHANGED')).toEqual([]);
    await waitUntil(() => ourFdsOn(theirs) === 0, 'no fd left on their namespace');
  });
});
