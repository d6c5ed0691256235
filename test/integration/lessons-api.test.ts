// The lesson API with a real server: listing (bad files listed with their error, the rest still served), 404s,
// lesson messages on /ws/events, steps that stay pending with the kernel's reason, progress that survives a
// reconnect and an `exit`, and Reset ending a process left in the lesson's namespace.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LessonDetail, LessonList, LessonResetResult, LessonServerMessage } from '../../shared/lessons.js';
import { startLearner, type Learner } from '../helpers/lessons.js';
import { REPO_ROOT, startServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/proc.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/lessons');

function openEvents(
  server: TestServer,
): Promise<{ ws: WebSocket; messages: { type: string; code?: string; id?: string }[] }> {
  const ws = server.ws('/ws/events');
  const messages: { type: string; code?: string; id?: string }[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as { type: string }));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', reject);
  });
}

describe('lessons API with broken lesson files', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({}, { lessonsDir: FIXTURES });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lists every lesson; a broken one with its error, the good one whole', async () => {
    const res = await server.api('/api/lessons');
    expect(res.status).toBe(200);
    const { lessons } = (await res.json()) as LessonList;
    const good = lessons.find((l) => l.id === 'good');
    expect(good).toMatchObject({ title: 'A good lesson', summary: 'One step, one check.' });
    expect(good?.error).toBeUndefined();
    expect(good?.steps[0]?.commands[0]?.pane).toBe('outside');
    expect(good?.steps[0]?.commands[0]?.text).toMatch(/^mkdir -p \/tmp\/nsconsole-lessons-\w+\/good\/here$/);
    expect(good?.steps[0]?.checks).toEqual(['…/here exists outside (a directory)']);
    const broken = lessons.filter((l) => l.error !== undefined);
    expect(broken.map((l) => l.id).sort()).toEqual([
      'bad-command',
      'bad-propagation',
      'bad-yaml',
      'escape',
      'escape-prefix',
      'id-mismatch',
      'no-checks',
      'unknown-check',
      'unknown-variable',
    ]);
    for (const l of broken) expect(l.error).toMatch(/\.yaml:\d+:\d+: /);
    expect((await server.api('/api/health')).status).toBe(200);
  });

  it('answers 404 LESSON_NOT_FOUND for an unknown or malformed id', async () => {
    for (const [method, p] of [
      ['GET', '/api/lessons/nope'],
      ['GET', '/api/lessons/..%2F..%2Fetc'],
      ['POST', '/api/lessons/nope/reset'],
    ] as const) {
      const res = await server.api(p, { method });
      expect(res.status, `${method} ${p}`).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('LESSON_NOT_FOUND');
    }
    const res = await server.api('/api/lessons/bad-yaml');
    expect(res.status).toBe(200);
    expect(((await res.json()) as LessonDetail).error).toMatch(/bad-yaml\.yaml:\d+:\d+: YAML/);
    expect((await server.api('/api/lessons/bad-yaml/reset', { method: 'POST' })).status).toBe(409);
  });

  it('answers bad lesson messages on /ws/events with an error and keeps the stream', async () => {
    const { ws, messages } = await openEvents(server);
    try {
      ws.send(JSON.stringify({ type: 'lesson', id: 'bad-yaml', panes: {} }));
      ws.send(JSON.stringify({ type: 'lesson', id: 'nope', panes: {} }));
      ws.send(JSON.stringify({ type: 'lesson', id: '../x', panes: {} }));
      ws.send(JSON.stringify({ type: 'lesson', id: 'good', panes: { inside: 'no such session' } }));
      ws.send(JSON.stringify({ type: 'lesson', id: 'good', panes: {} }));
      await waitUntil(() => messages.some((m) => m.type === 'lesson'), 'a lesson message');
      expect(messages.filter((m) => m.type === 'error').map((m) => m.code)).toEqual([
        'LESSON_INVALID',
        'LESSON_NOT_FOUND',
        'BAD_REQUEST',
        'BAD_REQUEST',
      ]);
      expect(messages.find((m) => m.type === 'lesson')).toMatchObject({
        id: 'good',
        steps: [{ state: 'pending', reason: expect.stringMatching(/^…\/here does not exist outside$/) }],
      });
    } finally {
      ws.terminate();
    }
  });
});

describe('lesson progress with real shells', () => {
  let l: Learner;
  let lesson: LessonDetail;
  let work: string;
  beforeAll(async () => {
    l = await startLearner();
    lesson = await l.detail('mount-namespaces');
    work = lesson.variables.WORK as string;
  });
  afterAll(async () => {
    await l?.close();
  });

  it('a kernel change made outside the panes passes a step too (no pane output needed)', async () => {
    l.follow('mount-namespaces');
    await l.waitProgress((s) => s[0]?.reason !== undefined, 'the first push');
    try {
      // Not typed in a pane: only the kernel's mount event can tell the server.
      mkdirSync(`${work}/mntns`, { recursive: true });
      writeFileSync(`${work}/mntns/1`, '');
      execFileSync('mount', ['--bind', '--make-private', `${work}/mntns`, `${work}/mntns`]);
      await l.waitProgress((s) => s[0]?.state === 'passed', 'step 1 to pass from the mount event');
    } finally {
      await l.server.api('/api/lessons/mount-namespaces/reset', { method: 'POST' });
    }
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(work);
  });

  it('a wrong step stays pending with what the kernel shows; progress survives a reconnect and exit', async () => {
    l.follow('mount-namespaces');
    try {
      await l.run(
        'outside',
        `mkdir -p ${work}/mntns ${work}/mnt && mount --bind --make-shared ${work}/mntns ${work}/mntns && touch ${work}/mntns/1`,
      );
      const wrong = await l.waitProgress((s) => s[0]?.reason?.includes('shared') === true, 'the shared-mount reason');
      expect(wrong[0]).toEqual({ state: 'pending', reason: '…/mntns is a shared mount outside, not private' });
      expect(wrong.slice(1)).toEqual(lesson.steps.slice(1).map(() => ({ state: 'pending' })));

      // Step 2 done before step 1 is fixed: not checked yet, so still pending.
      await l.run('outside', `mount --make-private ${work}/mntns`);
      await l.waitProgress((s) => s[0]?.state === 'passed', 'step 1 to pass once the mount is private');
      await l.run('inside', `unshare --mount=${work}/mntns/1`);
      await l.waitProgress((s) => s[1]?.state === 'passed', 'step 2 to pass');

      // A new event stream (a browser reload) gets the same progress from the server.
      const { ws, messages } = await openEvents(l.server);
      try {
        ws.send(
          JSON.stringify({
            type: 'lesson',
            id: 'mount-namespaces',
            panes: { outside: l.sessions.outside.id, inside: l.sessions.inside.id },
          }),
        );
        await waitUntil(() => messages.some((m) => m.type === 'lesson'), 'the progress on the new stream');
        const first = messages.find((m) => m.type === 'lesson') as unknown as LessonServerMessage;
        expect(first.steps.slice(0, 2).map((s) => s.state)).toEqual(['passed', 'passed']);
      } finally {
        ws.terminate();
      }
      expect((await l.detail('mount-namespaces')).progress.slice(0, 2).map((s) => s.state)).toEqual([
        'passed',
        'passed',
      ]);

      // Leaving the namespace does not undo a passed step.
      await l.run('inside', 'exit');
      const after = await l.waitProgress(
        (s) => s[2]?.reason?.includes('inside') === true,
        'step 3 to say the pane is outside',
      );
      expect(after.slice(0, 2).map((s) => s.state)).toEqual(['passed', 'passed']);
      expect(after[2]?.reason).toMatch(
        /^…\/mnt is not a mount point inside|inside and outside are the same mount namespace/,
      );
    } finally {
      await l.server.api('/api/lessons/mount-namespaces/reset', { method: 'POST' });
    }
  });

  it('Reset ends processes left in the namespaces the lesson made, keeps the pane shells, removes mounts and files', async () => {
    l.follow('mount-namespaces');
    await l.run(
      'outside',
      `mkdir -p ${work}/mntns ${work}/mnt && mount --bind --make-private ${work}/mntns ${work}/mntns && touch ${work}/mntns/1`,
    );
    await l.run('inside', `unshare --mount=${work}/mntns/1`);
    await l.waitProgress((s) => s[1]?.state === 'passed', 'step 2 to pass (NPROCS 1, before the sleep starts)');
    await l.run('inside', `mount -t tmpfs tmpfs ${work}/mnt && touch ${work}/mnt/hi-there && sleep 1000 &`);
    await l.waitProgress((s) => s[2]?.state === 'passed', 'step 3 to pass');
    const child = readFileSync(`/proc/${l.sessions.inside.pid}/task/${l.sessions.inside.pid}/children`, 'utf8')
      .trim()
      .split(' ')[0];
    const insideShell = Number(child);
    // The Reset under test is also the cleanup: a failure above leaves it to the next test's reset and close().
    const res = await l.server.api('/api/lessons/mount-namespaces/reset', { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as LessonResetResult;
    expect(body.problems).toEqual([]);
    expect(body.removed.processes.map((p) => p.command).sort()).toEqual(expect.arrayContaining(['bash', 'sleep']));
    expect(body.removed.processes.map((p) => p.pid)).toContain(insideShell);
    expect(body.removed.mounts).toEqual(expect.arrayContaining([`${work}/mntns/1`, `${work}/mntns`]));
    expect(body.removed.files.sort()).toEqual([`${work}/mnt`, `${work}/mntns`]);
    expect(body.progress.every((s) => s.state === 'pending')).toBe(true);
    // Against the kernel, not the API:
    expect(existsSync(`/proc/${insideShell}`)).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(work);
    // The pane shells themselves live on.
    expect(existsSync(`/proc/${l.sessions.inside.pid}`)).toBe(true);
    await l.run('inside', 'echo still-here');
    await l.inside.waitForText('still-here');
  });

  it('Reset leaves alone a namespace a pane entered that holds processes outside the panes', async () => {
    // A stranger: a process in its own mount namespace, not started from a pane (think: a container).
    const stranger = spawn('unshare', ['--mount', '--fork', '--kill-child', '--', 'sleep', '1000'], {
      stdio: 'ignore',
    });
    let inner = 0;
    try {
      await waitUntil(() => {
        const kids = readFileSync(`/proc/${stranger.pid}/task/${stranger.pid}/children`, 'utf8').trim();
        inner = Number(kids.split(' ')[0] || 0);
        return inner > 0 && readlinkSync(`/proc/${inner}/ns/mnt`) !== readlinkSync('/proc/self/ns/mnt');
      }, 'the stranger in its namespace');
      const nsId = readlinkSync(`/proc/${inner}/ns/mnt`).replace(/^mnt:\[(\d+)\]$/, 'mnt:$1');
      await l.server.api('/api/lessons/mount-namespaces/reset', { method: 'POST' });
      l.follow('mount-namespaces');
      await l.run('inside', `nsenter --mount --target ${inner}`);
      const res = await l.server.api('/api/lessons/mount-namespaces/reset', { method: 'POST' });
      const body = (await res.json()) as LessonResetResult;
      expect(body.removed.processes).toEqual([]);
      expect(body.problems.join('\n')).toContain(`left ${nsId} alone`);
      expect(existsSync(`/proc/${inner}`)).toBe(true);
      await l.run('inside', 'exit');
    } finally {
      if (inner > 0) process.kill(inner, 'SIGKILL');
      stranger.kill('SIGKILL'); // --kill-child: its sleep would get SIGKILL from the kernel anyway
    }
  });
});
