// --sandbox: a learner's shell is root of its own world and nothing more. Every attempt below is typed into a
// real session's shell over the WebSocket (or made through the server's API), and must fail with a clear error
// while the host stays untouched. The table in README ("What a sandbox stops") is this file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { MountTable } from '../../shared/api.js';
import type { TestServer } from '../helpers/server.js';
import { hostPidsWithUidIn, SandboxShell, startSandboxServer } from '../helpers/sandbox.js';

const UID_START = 510_000;
const hostNs = (type: string) => readlinkSync(`/proc/self/ns/${type}`).replace(/^(\w+):\[(\d+)\]$/, '$1:$2');

describe('a sandbox holds', () => {
  let server: TestServer;
  let shell: SandboxShell;
  let hostDir: string;
  let info: { id: string; hostname: string; uidBase: number; limits: { enforced: string[] } };
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    hostDir = await mkdtemp(path.join(tmpdir(), 'nsconsole-sandbox-'));
    server = await startSandboxServer(UID_START);
    shell = await SandboxShell.open(server);
    info = (await (await server.api('/api/sandbox')).json()) as typeof info;
    // These attempts (kill -9 -1, a fork bomb, writes to /etc/passwd…) must never run on the host: if the shell is
    // not provably in a sandbox (root inside mapped to the range, its own user namespace), nothing below runs.
    const map = (await shell.run('cat /proc/self/uid_map')).output;
    const userns = (await shell.run('readlink /proc/self/ns/user')).output;
    if (!new RegExp(`^\\s*0\\s+${UID_START}\\s+65536$`).test(map) || userns === readlinkSync('/proc/self/ns/user')) {
      throw new Error(
        `the shell is not in a sandbox (uid_map ${JSON.stringify(map)}, ${userns}): refusing to run the escape attempts`,
      );
    }
  }, 30_000);

  afterAll(async () => {
    shell?.dispose();
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) =>
            c.exitCode !== null || c.signalCode !== null ? resolve(null) : (c.once('exit', resolve), c.kill('SIGKILL')),
          ),
      ),
    );
    await server?.close();
    await rm(hostDir, { recursive: true, force: true });
    // Processes take a moment to exit after SIGKILL: polled, with a generous bound.
    const deadline = Date.now() + 10_000;
    while (hostPidsWithUidIn(UID_START, 2 * 65536).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(hostPidsWithUidIn(UID_START, 2 * 65536).map((pid) => `${pid}: ${describePid(pid)}`)).toEqual([]);
  }, 30_000);

  test('GET /api/sandbox names it; inside, root is the range base outside', async () => {
    expect(info.hostname).toBe(`sandbox-${info.id}`);
    expect(info.uidBase).toBe(UID_START);
    expect(info.limits.enforced.sort()).toEqual(['memory', 'pids']);
    expect((await shell.run('id -u')).output).toBe('0');
    expect((await shell.run('hostname')).output).toBe(info.hostname);
    expect((await shell.run('cat /proc/self/uid_map')).output).toMatch(new RegExp(`^\\s*0\\s+${UID_START}\\s+65536$`));
    expect((await shell.run('readlink /proc/self/ns/user')).output).not.toBe(readlinkSync('/proc/self/ns/user'));
  });

  test('host files: read-only, and private places are its own', async () => {
    const usr = await shell.run('touch /usr/bin/nsconsole-evil');
    expect(usr.code).not.toBe(0);
    expect(usr.output).toMatch(/Read-only file system/);
    const passwd = await shell.run('echo evil >> /etc/passwd');
    expect(passwd.code).not.toBe(0);
    expect(passwd.output).toMatch(/Permission denied/);
    expect((await shell.run(`ls ${hostDir}`)).output).toMatch(/No such file or directory/); // the host's /tmp is not its /tmp
    expect((await shell.run('touch /tmp/mine /root/mine /etc/mine && echo wrote')).output).toBe('wrote');
    await expect(stat('/etc/mine')).rejects.toThrow(/ENOENT/);
    await expect(stat('/usr/bin/nsconsole-evil')).rejects.toThrow(/ENOENT/);
  });

  test('host processes: not visible, not signalable', async () => {
    // A host process running as the very uid that is root inside: the kernel would let that uid signal it,
    // if the sandbox could name it.
    const victim = spawn('sleep', ['300'], { uid: UID_START, gid: UID_START, stdio: 'ignore' });
    children.push(victim);
    const ps = await shell.run('ls /proc | grep -c "^[0-9]"');
    expect(Number(ps.output)).toBeLessThan(10);
    expect((await shell.run(`kill -0 ${process.pid}`)).code).not.toBe(0);
    // `kill -9 -1` reaches every process the sandbox can see (all but its pid 1 and the caller).
    const other = await SandboxShell.open(server);
    const killed = await shell.run('kill -9 -1');
    expect(killed.code).toBe(0);
    await other.client.waitForMessage('exit', 10_000);
    other.dispose();
    expect(victim.exitCode).toBeNull();
    expect(() => process.kill(victim.pid as number, 0)).not.toThrow();
    expect((await shell.run('hostname')).output).toBe(info.hostname); // the sandbox itself lives on (its pid 1 ignores it)
  });

  test('devices, modules, sysctls, hostname', async () => {
    const mount = await shell.run('mount -t ext4 /dev/vda /mnt || mount /dev/loop0 /mnt');
    expect(mount.code).not.toBe(0);
    expect(mount.output).toMatch(/permission denied|must be superuser|not permitted|No such file/i);
    const mknod = await shell.run('mknod /tmp/disk b 253 0');
    expect(mknod.output).toMatch(/Operation not permitted/);
    // init_module(2) with an empty image: EPERM (no CAP_SYS_MODULE outside), never EINVAL/ENOEXEC.
    const mod = await shell.run(
      `perl -e 'my $m = ""; my $o = ""; syscall(175, $m, 0, $o) == 0 or die "init_module: $!\\n"'`,
    );
    // EPERM (no CAP_SYS_MODULE in the initial user namespace); ENOSYS on a kernel built without modules.
    expect(mod.output).toMatch(/init_module: (Operation not permitted|Function not implemented)/);
    const sysctl = await shell.run('echo 1 > /proc/sys/kernel/sysrq');
    expect(sysctl.code).not.toBe(0);
    const before = hostname();
    expect((await shell.run('hostname pwned && hostname')).output).toBe('pwned');
    expect(hostname()).toBe(before);
    await shell.run(`hostname ${info.hostname}`);
  });

  test('network: loopback only', async () => {
    expect((await shell.run("ip -o link | awk '{print $2}'")).output).toBe('lo:');
    const out = await shell.run('timeout 5 bash -c "echo > /dev/tcp/1.1.1.1/53"');
    expect(out.code).not.toBe(0);
    expect(out.output).toMatch(/Network is unreachable/);
    const own = await shell.run(`timeout 5 bash -c "echo > /dev/tcp/127.0.0.1/${server.port}"`);
    expect(own.output).toMatch(/Connection refused/); // the server's port is on the host's loopback, not this one
  });

  test('fork bomb stops at pids.max; memory at the cgroup limit; disk at the tmpfs size', async () => {
    const bomb = await shell.run(
      `perl -e 'my @k; for (1..500) { my $p = fork; if (!defined $p) { print "fork failed: $!\\n"; last } if (!$p) { sleep 60; exit } push @k, $p } kill 9, @k; waitpid($_, 0) for @k; print "children: ", scalar(@k), "\\n"'`,
      30_000,
    );
    expect(bomb.output).toMatch(/fork failed: Resource temporarily unavailable/);
    expect(Number(/children: (\d+)/.exec(bomb.output)?.[1])).toBeLessThan(64);
    const mem = await shell.run(`perl -e '$x = "x" x (400 * 1024 * 1024); print "allocated\\n"'`, 30_000);
    expect(mem.output).not.toMatch(/allocated/);
    expect(mem.code === 137 || /Out of memory/.test(mem.output)).toBe(true);
    const disk = await shell.run('dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; rm -f /tmp/fill');
    expect(disk.output).toMatch(/No space left on device/);
    expect((await shell.run('echo still here')).output).toBe('still here');
    expect((await server.api('/api/health')).status).toBe(200);
  }, 60_000);

  test("the server's own features: host namespaces and processes do not exist for it", async () => {
    const post = (target: unknown) =>
      server.api('/api/sessions', { method: 'POST', body: JSON.stringify({ target, cols: 80, rows: 24 }) });
    const byId = await post({ kind: 'namespace', id: hostNs('mnt') });
    expect(byId.status).toBe(404);
    expect(((await byId.json()) as { error: { code: string } }).error.code).toBe('NS_NOT_FOUND');
    const byPid = await post({ kind: 'process', pid: process.pid });
    expect(byPid.status).toBe(404);
    expect(((await byPid.json()) as { error: { code: string } }).error.code).toBe('PROCESS_NOT_FOUND');
    expect((await server.api(`/api/namespaces/${hostNs('net')}`, { method: 'DELETE' })).status).toBe(404);
    expect((await server.api(`/api/namespaces/${hostNs('mnt')}/mounts`)).status).toBe(404);
    const list = (await (await server.api('/api/namespaces')).json()) as {
      namespaces: { id: string; self: boolean; type: string }[];
    };
    const ids = list.namespaces.map((n) => n.id);
    for (const type of ['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup']) expect(ids).not.toContain(hostNs(type));
    // the sandbox's own namespaces are the "outside" baseline
    const selfTypes = list.namespaces
      .filter((n) => n.self)
      .map((n) => n.type)
      .sort();
    expect(selfTypes).toEqual(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts']);
    const own = list.namespaces.find((n) => n.self && n.type === 'mnt') as { id: string };
    const whole = await server.api(`/api/namespaces/${own.id}/mounts`);
    expect(whole.status).toBe(200);
    const table = (await whole.json()) as MountTable;
    expect(table.namespace).toMatchObject({ id: own.id, self: true });
    expect(table.mounts.length).toBeGreaterThan(3);
    // pages as on a host (the sandbox's view used to drop offset and limit and answer the whole table)
    const paged = (await (await server.api(`/api/namespaces/${own.id}/mounts?offset=1&limit=2`)).json()) as MountTable;
    expect(paged.mounts).toEqual(table.mounts.slice(1, 3));
    expect(paged.truncated).toMatchObject({ offset: 1, shown: 2, total: table.mounts.length });
    expect((await server.api(`/api/namespaces/${own.id}/diff/${hostNs('mnt')}`)).status).toBe(404);
  });

  test('New namespace and Delete namespace work inside it, persisted where the walkthrough puts them', async () => {
    const res = await server.api('/api/namespaces', {
      method: 'POST',
      body: JSON.stringify({ type: 'mnt', name: 'lesson1' }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const ns = (await res.json()) as { id: string; nsfs: string[] };
    expect(ns.nsfs).toContain('/run/nsconsole/ns/lesson1');
    expect((await shell.run('grep -c /run/nsconsole/ns/lesson1 /proc/mounts')).output).toBe('1');
    const again = await server.api('/api/namespaces', {
      method: 'POST',
      body: JSON.stringify({ type: 'mnt', name: 'lesson1' }),
    });
    expect(again.status).toBe(409);
    const inside = await SandboxShell.open(server, { kind: 'namespace', id: ns.id });
    expect((await inside.run('readlink /proc/self/ns/mnt')).output).toBe(ns.id.replace(/^mnt:(\d+)$/, 'mnt:[$1]'));
    expect((await inside.run('hostname')).output).toBe(info.hostname); // still in the sandbox's UTS, PID, net…
    expect((await inside.run("ip -o link | awk '{print $2}'")).output).toBe('lo:');
    inside.dispose();
    expect((await server.api(`/api/namespaces/${ns.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await shell.run('grep -c /run/nsconsole/ns/lesson1 /proc/mounts')).output).toBe('0');
  }, 30_000);

  test('the live event stream lists and pushes only what is inside, never a host mount table', async () => {
    const ws = server.ws('/ws/events');
    const messages: { type: string; id?: string; namespaces?: { id: string }[] }[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d)) as (typeof messages)[number]));
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    try {
      const own = (await (await server.api('/api/sandbox')).json()) as { id: string };
      expect(own.id).toBe(info.id);
      const list = (await (await server.api('/api/namespaces?type=mnt')).json()) as {
        namespaces: { id: string; self: boolean }[];
      };
      const mine = list.namespaces.find((n) => n.self)?.id as string;
      ws.send(JSON.stringify({ type: 'watch', ids: [hostNs('mnt'), mine] }));
      const deadline = Date.now() + 10_000;
      while (
        !(
          messages.some((m) => m.type === 'namespaces') && messages.some((m) => m.type === 'mounts' && m.id === mine)
        ) &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 20));
      const lists = messages.filter((m) => m.type === 'namespaces');
      expect(lists.length).toBeGreaterThan(0);
      for (const m of lists)
        for (const type of ['mnt', 'pid', 'net', 'user'])
          expect(m.namespaces?.map((n) => n.id)).not.toContain(hostNs(type));
      expect(messages.some((m) => m.type === 'mounts' && m.id === mine)).toBe(true);
      expect(messages.some((m) => m.type === 'mounts' && m.id === hostNs('mnt'))).toBe(false);
    } finally {
      ws.close();
    }
  });

  test("a learner's own user namespace below the sandbox's is listed and enterable (by process), in the sandbox's world", async () => {
    await shell.run('unshare -Urm --propagation private sleep 600 & true');
    const deadline = Date.now() + 10_000;
    type Row = { id: string; self: boolean; pid: number | null; owner?: { userns: string } | null };
    let nested: Row | undefined;
    while (nested === undefined && Date.now() < deadline) {
      const list = (await (await server.api('/api/namespaces?type=user')).json()) as { namespaces: Row[] };
      const own = list.namespaces.find((n) => n.self);
      nested = list.namespaces.find((n) => own !== undefined && n.owner?.userns === own.id);
      if (nested === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(nested?.pid).toBeTypeOf('number');
    const inside = await SandboxShell.open(server, { kind: 'process', pid: nested?.pid });
    try {
      expect((await inside.run('readlink /proc/self/ns/user')).output).toBe(
        (nested?.id ?? '').replace(/^user:(\d+)$/, 'user:[$1]'),
      );
      expect((await inside.run('hostname')).output).toBe(info.hostname);
    } finally {
      inside.dispose();
      await shell.run('kill %1 2>/dev/null; pkill -x sleep; true');
    }
  }, 30_000);
});

function describePid(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return 'gone';
  }
}
