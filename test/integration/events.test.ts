// The live event stream over a real WebSocket: initial state, mount changes in watched namespaces, gone, bad
// messages, and that watching holds nothing open and ends with the socket.
import { mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { EventsServerMessageSchema, type EventsServerMessage } from '../../shared/events.js';
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine, type NamespaceEngine } from '../../server/namespaces/engine.js';
import { attachEventClient } from '../../server/ws/event-stream.js';
import { KernelFixtures, waitFor } from '../helpers/kernel.js';

const log = createLogger('silent');
const k = new KernelFixtures();
const suite = new KernelFixtures();
let engine: NamespaceEngine;
let wss: WebSocketServer;
let port: number;
let disposedWatches = 0;

beforeAll(async () => {
  engine = createNamespaceEngine({ nsDir: path.join(suite.tempDir(), 'ns'), log });
  // Count released watches to prove that closing the socket ends its watch.
  const counting: NamespaceEngine = Object.create(engine) as NamespaceEngine;
  counting.watch = (listener, ids) => {
    const h = engine.watch(listener, ids);
    return {
      setIds: (next) => h.setIds(next),
      dispose: () => {
        disposedWatches++;
        h.dispose();
      },
    };
  };
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => attachEventClient(ws, counting, log));
  await new Promise((r) => wss.once('listening', r));
  port = (wss.address() as AddressInfo).port;
});
afterEach(() => k.cleanup());
afterAll(async () => {
  for (const c of wss?.clients ?? []) c.terminate();
  await new Promise((r) => wss?.close(r));
  engine?.dispose();
  await k.cleanup();
  await suite.cleanup();
});

/** A client that records every message with its arrival time. */
class Client {
  readonly ws: WebSocket;
  readonly messages: { at: number; msg: EventsServerMessage }[] = [];
  constructor() {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}`);
    this.ws.on('message', (data) =>
      this.messages.push({ at: performance.now(), msg: EventsServerMessageSchema.parse(JSON.parse(data.toString())) }),
    ); // the browser's schema
  }
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }
  send(v: unknown): void {
    this.ws.send(typeof v === 'string' ? v : JSON.stringify(v));
  }
  async next(
    pred: (m: EventsServerMessage) => boolean,
    what: string,
    from = 0,
    timeoutMs = 5000,
  ): Promise<{ at: number; msg: EventsServerMessage }> {
    let found: { at: number; msg: EventsServerMessage } | undefined;
    await waitFor(() => (found = this.messages.slice(from).find((m) => pred(m.msg))) !== undefined, what, timeoutMs);
    return found!;
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

const mountsOf = (id: string) => (m: EventsServerMessage) => m.type === 'mounts' && m.id === id;

describe('event stream', () => {
  it('pushes the list at once, then the watched table, then its mount and umount', async () => {
    const file = path.join(k.privateDir(), 'watched');
    const { id } = await k.persistWithProcess(file);
    const target = path.join(k.tempDir(), 'live');
    mkdirSync(target);
    const c = new Client();
    await c.open();
    try {
      const list = await c.next((m) => m.type === 'namespaces', 'the initial list');
      expect(list.msg.type === 'namespaces' && list.msg.namespaces.some((n) => n.id === id)).toBe(true);

      c.send({ type: 'watch', ids: [id] });
      const first = await c.next(mountsOf(id), 'the initial table');
      expect(first.msg.type === 'mounts' && first.msg.mounts.some((m) => m.target === target)).toBe(false);

      const mark = c.messages.length;
      const started = performance.now();
      k.inNs(file, ['mount', '-t', 'tmpfs', 'live-tmpfs', target]);
      const added = await c.next(
        (m) => m.type === 'mounts' && m.id === id && m.mounts.some((x) => x.target === target),
        'the mount to arrive',
        mark,
      );
      // The contract is 250 ms at p95 (measured by the bench); one sample here only proves it is not seconds.
      expect(added.at - started).toBeLessThan(1000);

      const mark2 = c.messages.length;
      k.inNs(file, ['umount', target]);
      await c.next(
        (m) => m.type === 'mounts' && m.id === id && !m.mounts.some((x) => x.target === target),
        'the umount to arrive',
        mark2,
      );
    } finally {
      await c.close();
    }
  });

  it('says gone when a watched namespace stops existing, and keeps watching the rest', async () => {
    const dir = k.privateDir();
    const { id, holder } = await k.persistWithProcess(path.join(dir, 'doomed'));
    const c = new Client();
    await c.open();
    try {
      c.send({ type: 'watch', ids: [id, engine.selfId('mnt')] });
      await c.next(mountsOf(id), 'the table');
      await c.next(mountsOf(engine.selfId('mnt')), 'the server’s own table');
      await holder.kill();
      // Still persisted: the table stays readable without a process, so no gone yet.
      await k.cleanup(); // unmounts the nsfs bind: now nothing holds it
      const gone = await c.next((m) => m.type === 'gone' && m.id === id, 'gone');
      expect(gone.msg).toEqual({ type: 'gone', id });
    } finally {
      await c.close();
    }
  });

  it('answers a bad message with an error and keeps the socket open', async () => {
    const c = new Client();
    await c.open();
    try {
      for (const bad of [
        'not json',
        { type: 'watch', ids: ['nope'] },
        { type: 'subscribe' },
        { type: 'watch', ids: [], extra: 1 },
      ]) {
        const mark = c.messages.length;
        c.send(bad);
        const err = await c.next((m) => m.type === 'error', `an error for ${JSON.stringify(bad)}`, mark);
        expect(err.msg).toMatchObject({ type: 'error', code: expect.any(String), message: expect.any(String) });
      }
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
      c.send({ type: 'watch', ids: [engine.selfId('mnt')] });
      await c.next(mountsOf(engine.selfId('mnt')), 'a table after the errors');
    } finally {
      await c.close();
    }
  });

  it('says gone for an id that does not exist', async () => {
    const c = new Client();
    await c.open();
    try {
      c.send({ type: 'watch', ids: ['mnt:1'] });
      expect((await c.next((m) => m.type === 'gone', 'gone')).msg).toEqual({ type: 'gone', id: 'mnt:1' });
    } finally {
      await c.close();
    }
  });

  it('holds no mountinfo or namespace fd while watching, and releases the watch when the socket closes', async () => {
    const file = path.join(k.privateDir(), 'pinned');
    const { id, holder } = await k.persistWithProcess(file);
    const c = new Client();
    await c.open();
    c.send({ type: 'watch', ids: [id] });
    await c.next(mountsOf(id), 'the table');
    await holder.kill();
    // The watcher opens, reads and closes tables on each poll, so a sample may catch one mid-read. A pin is an
    // fd that stays open: the same fd and target in every sample over 800 ms.
    const samples: Set<string>[] = [];
    const until = Date.now() + 800;
    while (Date.now() < until) {
      const seen = new Set<string>();
      for (const fd of readdirSync('/proc/self/fd')) {
        let link = '';
        try {
          link = readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          continue; // closed while we looked
        }
        if (/mountinfo$|^mnt:\[/.test(link)) seen.add(`${fd} → ${link}`);
      }
      samples.push(seen);
      await new Promise((r) => setTimeout(r, 20));
    }
    const pins = [...(samples[0] ?? [])].filter((p) => samples.every((s) => s.has(p)));
    expect(pins).toEqual([]);
    const before = disposedWatches;
    await c.close();
    await waitFor(() => disposedWatches === before + 1, 'the watch to be released');
  });
});
