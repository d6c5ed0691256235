// Lessons per user in sandbox mode (issue #14 with the labs identities of #12): with --sandbox each user's lesson
// runs in their own sandbox. Alice's steps are checked against the kernel state of her sandbox and tick only her
// progress; bob's progress stays where it was; bob's "Reset lesson" acts only in bob's sandbox and alice's only in
// hers; "Reset sandbox" starts that user's lessons over.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import type WebSocket from 'ws';
import type { LessonDetail, LessonResetResult, LessonServerMessage, StepProgress } from '../../shared/lessons.js';
import { sandboxCgroupDirs } from '../../server/sandbox/cgroups.js';
import { nsCpuOf } from '../../server/sandbox/sandbox.js';
import { waitUntil } from '../helpers/proc.js';
import {
  asUser,
  hostPidsWithUidIn,
  hostSandboxMounts,
  json,
  SANDBOX_USER_HEADER,
  sandboxConfig,
  SandboxShell,
} from '../helpers/sandbox.js';
import { startServer, type TestServer } from '../helpers/server.js';

const UID_START = 2_410_000;
// Three ranges: on main the lessons also made the token holder's sandbox, which took one.
const RANGE = 3 * 65536;
const USER_HEADER = SANDBOX_USER_HEADER;
const LESSON = 'mount-namespaces';

/** A learner: two shells in their sandbox (Outside, Inside) and an event stream following the lesson with them. */
interface Learner {
  api: TestServer['api'];
  outside: SandboxShell;
  inside: SandboxShell;
  events: WebSocket;
  pushes: StepProgress[][];
  errors: unknown[];
  progress(): StepProgress[];
  waitProgress(pred: (s: StepProgress[]) => boolean, what: string): Promise<StepProgress[]>;
  detail(): Promise<LessonDetail>;
  reset(): Promise<LessonResetResult>;
}

/** `opts.panes`: follow with these sessions as panes instead of the learner's own; `opts.lesson` another lesson. */
async function learner(
  server: TestServer,
  shells: SandboxShell[],
  sockets: WebSocket[],
  opts: { lesson?: string; panes?: { outside: string; inside: string } } = {},
): Promise<Learner> {
  const lesson = opts.lesson ?? LESSON;
  const outside = await SandboxShell.open(server);
  shells.push(outside);
  const inside = await SandboxShell.open(server);
  shells.push(inside);
  const events = server.ws('/ws/events');
  sockets.push(events);
  const pushes: StepProgress[][] = [];
  const errors: unknown[] = [];
  // Listeners before 'open' (BRIEF: a message can arrive with it).
  events.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { type: string };
    if (msg.type === 'lesson' && (msg as LessonServerMessage).id === lesson)
      pushes.push((msg as LessonServerMessage).steps);
    if (msg.type === 'error') errors.push(msg);
  });
  await new Promise<void>((resolve, reject) => {
    events.once('open', () => resolve());
    events.once('error', reject);
  });
  const panes = opts.panes ?? { outside: outside.sessionId, inside: inside.sessionId };
  events.send(JSON.stringify({ type: 'lesson', id: lesson, panes }));
  const progress = () => pushes.at(-1) ?? [];
  return {
    api: server.api,
    outside,
    inside,
    events,
    pushes,
    errors,
    progress,
    async waitProgress(pred, what) {
      await waitUntil(
        () => pred(progress()),
        `${what}; progress: ${JSON.stringify(progress())}; errors: ${JSON.stringify(errors)}`,
        20_000,
      );
      return progress();
    },
    detail: () => json<LessonDetail>(server.api(`/api/lessons/${lesson}`)),
    reset: () => json<LessonResetResult>(server.api(`/api/lessons/${lesson}/reset`, { method: 'POST' })),
  };
}

const states = (s: StepProgress[]) => s.map((p) => p.state);

/** The server these learners share: sandboxes, bash shells, users named by the proxy header. */
const startLessonsServer = (): Promise<TestServer> =>
  startServer({ sandbox: sandboxConfig(UID_START, { uidCount: RANGE }), shell: '/bin/bash', authHeader: USER_HEADER });

describe('lessons per user in sandbox mode', () => {
  let server: TestServer | undefined;
  const shells: SandboxShell[] = [];
  const sockets: WebSocket[] = [];
  const aliceAndBob = (srv: TestServer): Promise<[Learner, Learner]> =>
    Promise.all([learner(asUser(srv, 'alice'), shells, sockets), learner(asUser(srv, 'bob'), shells, sockets)]);

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.terminate();
    for (const s of shells.splice(0)) s.dispose();
    await server?.close(); // ends every session; the sandboxes, and all the lessons made in them, die with it
    server = undefined;
    await waitUntil(() => hostPidsWithUidIn(UID_START, RANGE).length === 0, 'sandbox processes to exit');
    expect(sandboxCgroupDirs()).toEqual([]);
    expect(hostSandboxMounts()).toEqual([]);
  }, 30_000);

  test("alice's steps tick only alice's lesson, in her sandbox; each reset acts only in its user's sandbox", async () => {
    server = await startLessonsServer();
    const [alice, bob] = await aliceAndBob(server);
    const work = (await alice.detail()).variables.WORK as string;
    expect((await bob.detail()).variables.WORK).toBe(work); // the same path, in each user's own /tmp
    await alice.waitProgress((s) => s[0]?.reason !== undefined, "alice's first push");
    await bob.waitProgress((s) => s[0]?.reason !== undefined, "bob's first push");

    // Bob makes a file of his own in his workspace (no step passes with it).
    expect(await bob.outside.run(`mkdir -p ${work} && touch ${work}/bobs-file && echo ok`)).toEqual({
      code: 0,
      output: 'ok',
    });

    // Alice does step 1 in her Outside pane: checked against her sandbox's mount table and files.
    const step1 = `mkdir -p ${work}/mntns ${work}/mnt && mount --bind --make-private ${work}/mntns ${work}/mntns && touch ${work}/mntns/1`;
    expect((await alice.outside.run(step1)).code).toBe(0);
    await alice.waitProgress((s) => s[0]?.state === 'passed', "alice's step 1 to pass");

    // Step 2 in her Inside pane: the namespace persisted in her sandbox, her pane in it. (Made on the CPU the
    // sandbox's own namespaces were made on: see sandbox.ts nsCpuOf.)
    const cpu = nsCpuOf(readFileSync('/proc/self/status', 'utf8'));
    alice.inside.client.type(`taskset --cpu-list ${cpu} unshare --mount=${work}/mntns/1\r`);
    await alice.waitProgress((s) => s[1]?.state === 'passed', "alice's step 2 to pass");

    // Bob saw none of it: every push he got, and his progress now, have step 1 pending — with the reason his own
    // sandbox gives (no mount at …/mntns there).
    const bobNow = (await bob.detail()).progress;
    expect(states(bobNow)).toEqual(bobNow.map(() => 'pending'));
    expect(bobNow[0]?.reason).toMatch(/^…\/mntns is not a mount point outside/);
    for (const p of bob.pushes) expect(p[0]?.state).toBe('pending');
    expect(states((await alice.detail()).progress).slice(0, 2)).toEqual(['passed', 'passed']);

    // Bob's reset: his file goes; alice's sandbox and progress are untouched.
    const bobReset = await bob.reset();
    expect(bobReset.problems).toEqual([]);
    expect(bobReset.removed.files).toEqual([`${work}/bobs-file`]);
    expect(bobReset.removed.mounts).toEqual([]);
    expect(bobReset.removed.processes).toEqual([]);
    expect((await bob.outside.run(`ls -A ${work} | wc -l`)).output).toBe('0');
    const aliceSees = await alice.outside.run(
      `findmnt -rn -o TARGET | grep "^${work}/" | sort; test -f ${work}/mntns/1 && echo file`,
    );
    expect(aliceSees.output.split(/\s+/)).toEqual([`${work}/mntns`, `${work}/mntns/1`, 'file']);
    expect(states((await alice.detail()).progress).slice(0, 2)).toEqual(['passed', 'passed']);
    expect(states(alice.progress()).slice(0, 2)).toEqual(['passed', 'passed']);

    // Alice's reset acts in her sandbox: her mounts, files and the shell her Inside pane started in the namespace.
    const aliceReset = await alice.reset();
    expect(aliceReset.problems).toEqual([]);
    expect(aliceReset.removed.mounts).toEqual(expect.arrayContaining([`${work}/mntns/1`, `${work}/mntns`]));
    expect(aliceReset.removed.files).toEqual(expect.arrayContaining([`${work}/mntns`, `${work}/mnt`]));
    expect(aliceReset.removed.processes.map((p) => p.command)).toContain('bash');
    expect(states(aliceReset.progress)).toEqual(aliceReset.progress.map(() => 'pending'));
    expect(
      (await alice.outside.run(`findmnt -rn -o TARGET | grep -c "^${work}"; ls -A ${work} | wc -l`)).output.split(
        /\s+/,
      ),
    ).toEqual(['0', '0']);
    await alice.waitProgress((s) => s[0]?.state === 'pending', "alice's pushed progress to start over");
  }, 90_000);

  test("Reset sandbox starts that user's lessons over, and only theirs", async () => {
    server = await startLessonsServer();
    const [alice, bob] = await aliceAndBob(server);
    const work = (await alice.detail()).variables.WORK as string;
    const step1 = `mkdir -p ${work}/mntns ${work}/mnt && mount --bind --make-private ${work}/mntns ${work}/mntns && touch ${work}/mntns/1`;
    for (const l of [alice, bob]) {
      expect((await l.outside.run(step1)).code).toBe(0);
      await l.waitProgress((s) => s[0]?.state === 'passed', 'step 1 to pass');
    }

    await json(alice.api('/api/sandbox/reset', { method: 'POST' }));
    // Her new sandbox holds nothing of the lesson: her progress is all pending again, pushed and on GET.
    await alice.waitProgress((s) => s[0]?.state === 'pending', "alice's progress to start over");
    expect(states((await alice.detail()).progress)[0]).toBe('pending');
    expect(states((await bob.detail()).progress)[0]).toBe('passed');
    expect(states(bob.progress())[0]).toBe('passed');
  }, 90_000);

  test("another user's terminals are no panes of mine: their processes never show in my steps", async () => {
    server = await startLessonsServer();
    const alice = await learner(asUser(server, 'alice'), shells, sockets, { lesson: 'hostnames' });
    // Bob follows the lesson naming alice's two sessions as his panes.
    const bob = await learner(asUser(server, 'bob'), shells, sockets, {
      lesson: 'hostnames',
      panes: { outside: alice.outside.sessionId, inside: alice.inside.sessionId },
    });
    const work = (await bob.detail()).variables.WORK as string;
    expect((await bob.outside.run(`mkdir -p ${work} && touch ${work}/uts`)).code).toBe(0);
    // A lesson is re-checked on its panes' output and on namespace and mount events; bob's shell is no pane here and
    // a touched file is no event, so he asks again, as his page does when it follows the lesson (it passed 4 of 5
    // CI runs on whatever event came by chance).
    bob.events.send(
      JSON.stringify({
        type: 'lesson',
        id: 'hostnames',
        panes: { outside: alice.outside.sessionId, inside: alice.inside.sessionId },
      }),
    );
    await bob.waitProgress((s) => s[0]?.state === 'passed', "bob's step 1 to pass in his sandbox");
    // Step 2 asks about the Inside pane: alice's shell is not his, so for him there is none.
    const now = await bob.waitProgress((s) => s[1]?.reason !== undefined, "bob's step 2 reason");
    expect(now[1]?.reason).toBe('the Inside pane has no running shell the lesson knows of');
    expect(alice.progress()[0]?.state).toBe('pending'); // his file is not in her sandbox
    const reset = await bob.reset();
    expect(reset.removed.files).toEqual([`${work}/uts`]);
    expect(reset.removed.processes).toEqual([]);
  }, 90_000);
});
