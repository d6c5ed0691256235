// Lessons and their workspace (issues #9 and #14):
//  - a server makes its `nsconsole-lessons-…` workspace only when a lesson is first opened: one that never opened
//    a lesson — stopped, or SIGKILLed so it cannot clean up — leaves no such directory behind;
//  - with --sandbox, "Reset lesson" acts inside the learner's sandbox: the sandbox's mounts, files and processes
//    under the workspace go, while the host's files and mounts at the very same paths stay untouched.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { LessonDetail, LessonList, LessonResetResult } from '../../shared/lessons.js';
import { nsCpuOf } from '../../server/sandbox/sandbox.js';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { hostPidsWithUidIn, hostSandboxMounts, SandboxShell, startSandboxServer } from '../helpers/sandbox.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/proc.js';

const UID_START = 1_610_000;
const RANGE = 2 * 65536;
const LESSON = 'mount-namespaces';

/** The workspace directory a server's lessons use, from the commands GET /api/lessons shows (opens nothing). */
async function workspaceRoot(api: (p: string) => Promise<Response>): Promise<string> {
  const { lessons } = (await (await api('/api/lessons')).json()) as LessonList;
  const text = lessons.flatMap((l) => l.steps.flatMap((s) => s.commands.map((c) => c.text))).join('\n');
  const root = /(\/\S*\/nsconsole-lessons-[A-Za-z0-9]+)\//.exec(text)?.[1];
  if (!root) throw new Error(`no workspace path in the lessons' commands:\n${text.slice(0, 500)}`);
  return root;
}

function hostMountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((t) => t === dir || t.startsWith(`${dir}/`));
}

describe('the lessons workspace is made on first open', () => {
  let server: TestServer | undefined;
  let proc: ServerProcess | undefined;
  const made: string[] = [];

  afterEach(async () => {
    await server?.close();
    server = undefined;
    if (proc) proc.child.kill('SIGKILL');
    await proc?.stop();
    proc = undefined;
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true }); // only if a test failed
  });

  test('no directory until a lesson is opened; the lesson then has one; stopping removes it', async () => {
    server = await startServer();
    const s = server;
    const root = await workspaceRoot((p) => s.api(p));
    made.push(root);
    expect(existsSync(root)).toBe(false); // listing lessons opens none
    const detail = (await (await s.api(`/api/lessons/${LESSON}`)).json()) as LessonDetail;
    expect(detail.variables.WORK).toBe(path.join(root, LESSON));
    expect(existsSync(path.join(root, LESSON))).toBe(true);
    await server.close();
    server = undefined;
    expect(existsSync(root)).toBe(false);
  });

  test('a server SIGKILLed without opening a lesson leaves no nsconsole-lessons directory', async () => {
    proc = await spawnServer();
    const p = proc;
    const api = (pathname: string) => fetch(p.base + pathname, { headers: { authorization: `Bearer ${p.token}` } });
    const root = await workspaceRoot(api);
    made.push(root);
    expect(existsSync(root)).toBe(false);
    proc.child.kill('SIGKILL');
    await proc.exited;
    expect(existsSync(root)).toBe(false);
  });
});

describe('Reset lesson in a sandbox', () => {
  let server: TestServer | undefined;
  let shell: SandboxShell | undefined;
  let hostRoot: string | undefined;

  afterEach(async () => {
    shell?.dispose();
    shell = undefined;
    await server?.close(); // the sandbox dies with the server, and everything made in it
    server = undefined;
    if (hostRoot) {
      for (const t of hostMountsUnder(hostRoot).reverse()) execFileSync('umount', ['--lazy', t]);
      rmSync(hostRoot, { recursive: true, force: true });
      hostRoot = undefined;
    }
    await waitUntil(() => hostPidsWithUidIn(UID_START, RANGE).length === 0, 'sandbox processes to exit');
    expect(hostSandboxMounts()).toEqual([]);
  }, 30_000);

  test("unmounts, deletes and ends what the lesson made in the sandbox; the host's same paths are untouched", async () => {
    server = await startSandboxServer(UID_START);
    const s = server;
    const work = ((await (await s.api(`/api/lessons/${LESSON}`)).json()) as LessonDetail).variables.WORK as string;
    hostRoot = path.dirname(work);

    // The host has a directory, a file and a tmpfs at the very paths the sandbox's lesson uses.
    mkdirSync(path.join(work, 'm'), { recursive: true });
    writeFileSync(path.join(work, 'keep'), 'host file\n');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'host-canary', path.join(work, 'm')]);
    writeFileSync(path.join(work, 'm', 'canary'), 'host mount\n');

    // In the sandbox (the token holder's, where the lessons run): stacked tmpfs, files, a persisted namespace with
    // a process in it. Namespaces are made on the CPU the sandbox's own was made on (see sandbox.ts nsCpuOf).
    shell = await SandboxShell.open(s);
    const cpu = nsCpuOf(readFileSync('/proc/self/status', 'utf8'));
    const setup = [
      `W=${work}`,
      'mkdir -p $W/m $W/ns $W/d',
      'mount -t tmpfs inner1 $W/m && mount -t tmpfs inner2 $W/m',
      'touch $W/d/f $W/top $W/m/on-tmpfs',
      'mount --bind --make-private $W/ns $W/ns && touch $W/ns/1',
      `taskset --cpu-list ${cpu} unshare --mount=$W/ns/1 --propagation private true`,
      '(nsenter --mount=$W/ns/1 sleep 1000 &)',
      'echo ok',
    ].join(' && ');
    expect(await shell.run(setup)).toMatchObject({ code: 0, output: expect.stringMatching(/ok$/) });
    expect((await shell.run(`pgrep -x sleep`)).code).toBe(0);

    const res = await s.api(`/api/lessons/${LESSON}/reset`, { method: 'POST' });
    expect(res.status).toBe(200);
    const result = (await res.json()) as LessonResetResult;
    expect(result.problems).toEqual([]);
    expect(result.removed.processes.map((p) => p.command)).toContain('sleep');
    expect(result.removed.mounts).toEqual(expect.arrayContaining([`${work}/m`, `${work}/ns/1`, `${work}/ns`]));
    expect(result.removed.files).toEqual(
      expect.arrayContaining([`${work}/d`, `${work}/top`, `${work}/m`, `${work}/ns`]),
    );

    // Inside: nothing of it left. (The sandbox's table still lists the host's canary, copied when the sandbox was
    // made and covered by the sandbox's own /tmp: no path inside reaches it, and it is not the lesson's.)
    const inside = await shell.run(
      `findmnt -rn -o TARGET,SOURCE | grep "^${work}" | grep -vc host-canary; ls -A ${work} | wc -l; pgrep -x sleep | wc -l`,
    );
    expect(inside.output.split(/\s+/)).toEqual(['0', '0', '0']);

    // On the host: all still there.
    expect(hostMountsUnder(work)).toEqual([path.join(work, 'm')]);
    expect(readFileSync(path.join(work, 'keep'), 'utf8')).toBe('host file\n');
    expect(readFileSync(path.join(work, 'm', 'canary'), 'utf8')).toBe('host mount\n');
  });
});
