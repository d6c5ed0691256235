// Each shipped lesson, completed by typing its own commands into real shells over the terminal WebSockets, with
// the progress followed on /ws/events; then Reset, checked against /proc (not the API).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LessonDetail, LessonResetResult } from '../../shared/lessons.js';
import { startLearner, type Learner } from '../helpers/lessons.js';

/** Commands that replace the pane's shell with a new one (its prompt comes back from the new shell). */
const NEW_SHELL = /^(unshare|nsenter)\b/;

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((t) => t === dir || t.startsWith(dir + '/'));
}

/** PIDs whose namespace of some type is one of `ids` (read from /proc, not from the server). */
function pidsIn(ids: Set<string>): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    for (const t of ['mnt', 'uts']) {
      const link = readlinkSafe(`/proc/${name}/ns/${t}`);
      if (link && ids.has(link)) out.push(Number(name));
    }
  }
  return out;
}

function readlinkSafe(p: string): string | null {
  try {
    const m = /^(\w+):\[(\d+)\]$/.exec(readlinkSync(p));
    return m ? `${m[1]}:${m[2]}` : null;
  } catch {
    return null; // gone meanwhile
  }
}

async function complete(l: Learner, lesson: LessonDetail, seen: Set<string>): Promise<void> {
  for (const [i, step] of lesson.steps.entries()) {
    for (const cmd of step.commands) {
      await l.run(cmd.pane, cmd.text);
      // Remember every namespace a pane entered, to check after Reset that no process is left in it.
      if (NEW_SHELL.test(cmd.text))
        for (const t of ['mnt', 'uts'])
          for (const pid of childrenOf(l.sessions[cmd.pane].pid)) seen.add(readlinkSafe(`/proc/${pid}/ns/${t}`) ?? '');
    }
    await l.waitProgress((s) => s[i]?.state === 'passed', `step ${i + 1} (${step.title}) to pass`);
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('shipped lessons, typed by hand', () => {
  let l: Learner;
  beforeAll(async () => {
    l = await startLearner();
  });
  afterAll(async () => {
    await l?.close();
  });

  for (const id of ['mount-namespaces', 'mount-propagation', 'hostnames']) {
    it(`${id}: every step turns passed, and Reset leaves no mount, process or file`, async () => {
      const lesson = await l.detail(id);
      expect(lesson.error).toBeUndefined();
      const work = lesson.variables.WORK as string;
      expect(work).toMatch(/^\/tmp\/nsconsole-lessons-[A-Za-z0-9]+\//);
      l.follow(id);
      const first = await l.waitProgress((s) => s.length === lesson.steps.length, 'the first push');
      expect(first[0]?.state).toBe('pending');
      expect(first[0]?.reason).toBeTruthy();
      const seen = new Set<string>();
      try {
        await complete(l, lesson, seen);
        expect(l.progress().every((s) => s.state === 'passed')).toBe(true);
        if (process.env.LESSON_DEBUG)
          for (const p of l.pushes) console.log(JSON.stringify(p.msg.steps.map((s) => s.reason ?? s.state)));
      } finally {
        const res = await l.server.api(`/api/lessons/${id}/reset`, { method: 'POST' });
        expect(res.status).toBe(200);
        const body = (await res.json()) as LessonResetResult;
        expect(body.problems).toEqual([]);
        expect(body.progress.every((s) => s.state === 'pending')).toBe(true);
      }
      expect(mountsUnder(work)).toEqual([]);
      expect(readdirSync(work)).toEqual([]);
      seen.delete('');
      for (const own of ['mnt', 'uts']) seen.delete(readlinkSafe(`/proc/self/ns/${own}`) ?? '');
      expect(pidsIn(seen)).toEqual([]);
      await l.waitProgress((s) => s.every((x) => x.state === 'pending'), 'all steps pending after reset');
    });
  }
});
