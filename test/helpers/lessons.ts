// A learner without a browser: a real server, two real shells (Outside and Inside) typed into over their
// WebSockets, and the /ws/events stream following one lesson, as the lesson panel does.
import WebSocket from 'ws';
import type { LessonDetail, LessonServerMessage, StepProgress } from '../../shared/lessons.js';
import { startServer, type TestServer } from './server.js';
import { TermClient } from './term-client.js';
import type { StartOptions } from '../../server/nsconsole.js';

export interface Learner {
  server: TestServer;
  outside: TermClient;
  inside: TermClient;
  sessions: { outside: { id: string; pid: number }; inside: { id: string; pid: number } };
  events: WebSocket;
  /** every lesson message received, oldest first */
  pushes: { at: number; msg: LessonServerMessage }[];
  errors: unknown[];
  follow(id: string): void;
  progress(): StepProgress[];
  detail(id: string): Promise<LessonDetail>;
  waitProgress(pred: (steps: StepProgress[]) => boolean, what: string, timeoutMs?: number): Promise<StepProgress[]>;
  /** types a command and waits for the shell to be back at a prompt after it */
  run(pane: 'outside' | 'inside', text: string): Promise<void>;
  close(): Promise<void>;
}

async function openSession(server: TestServer): Promise<{ info: { id: string; pid: number }; client: TermClient }> {
  const res = await server.api('/api/sessions', {
    method: 'POST',
    body: JSON.stringify({ target: { kind: 'host' }, cols: 160, rows: 40 }),
  });
  if (res.status !== 201) throw new Error(`POST /api/sessions: ${res.status} ${await res.text()}`);
  const info = (await res.json()) as { id: string; pid: number };
  const client = new TermClient(server.ws(`/ws/sessions/${info.id}`));
  await client.opened;
  await client.waitForMessage('hello');
  return { info, client };
}

export async function startLearner(start: StartOptions = {}): Promise<Learner> {
  const server = await startServer({}, start);
  let o: Awaited<ReturnType<typeof openSession>> | undefined;
  let i: Awaited<ReturnType<typeof openSession>> | undefined;
  try {
    o = await openSession(server);
    i = await openSession(server);
  } catch (e) {
    o?.client.dispose();
    await server.close();
    throw e;
  }
  const outside = o.client;
  const inside = i.client;
  const sessions = { outside: o.info, inside: i.info };
  // A prompt that says which command ended, so run() knows the shell is back (and its output is in).
  for (const c of [outside, inside]) c.type("export PS1='$ ' PROMPT_COMMAND='echo \"<done $?>\"'\r");
  const events = server.ws('/ws/events');
  await new Promise<void>((resolve, reject) => {
    events.once('open', () => resolve());
    events.once('error', reject);
  });
  const pushes: Learner['pushes'] = [];
  const errors: unknown[] = [];
  events.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { type: string };
    if (msg.type === 'lesson') pushes.push({ at: performance.now(), msg: msg as LessonServerMessage });
    if (msg.type === 'error') errors.push(msg);
  });
  let following: string | null = null;
  const progress = () => pushes.filter((p) => p.msg.id === following).at(-1)?.msg.steps ?? [];
  const waitProgress = async (pred: (s: StepProgress[]) => boolean, what: string, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pred(progress())) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; progress: ${JSON.stringify(progress())}; errors: ${JSON.stringify(errors)}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
    return progress();
  };
  return {
    server,
    outside,
    inside,
    sessions,
    events,
    pushes,
    errors,
    follow(id) {
      following = id;
      events.send(
        JSON.stringify({ type: 'lesson', id, panes: { outside: sessions.outside.id, inside: sessions.inside.id } }),
      );
    },
    progress,
    async detail(id) {
      const res = await server.api(`/api/lessons/${id}`);
      if (res.status !== 200) throw new Error(`GET /api/lessons/${id}: ${res.status}`);
      return (await res.json()) as LessonDetail;
    },
    waitProgress,
    async run(pane, text) {
      const c = pane === 'outside' ? outside : inside;
      const before = c.text().split('<done ').length;
      c.type(`${text}\r`);
      // PROMPT_COMMAND prints "<done N>" each time the shell is back at its prompt.
      await c.waitFor(
        () => c.text().split('<done ').length > before,
        `the ${pane} shell to finish ${JSON.stringify(text)}`,
      );
    },
    async close() {
      events.terminate();
      outside.dispose();
      inside.dispose();
      await server.close();
    },
  };
}
