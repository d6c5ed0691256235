// Issue #15 item 2: the heartbeat must drop a peer that stops reading even when it sends pongs of its own accord
// (main counted any pong as alive: an attacker survived 70 s of heartbeats that way, growing the server).
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startHeartbeat } from '../../server/ws/heartbeat.js';
import { waitUntil } from '../helpers/proc.js';

const HEARTBEAT_MS = 200;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serverWithHeartbeat(): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const hb = startHeartbeat([wss], HEARTBEAT_MS);
  cleanups.push(async () => {
    hb.dispose();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  });
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

async function client(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  cleanups.push(() => ws.terminate());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}

describe('heartbeat', () => {
  it('terminates a peer that does not read, however many unsolicited pongs it sends', async () => {
    const { wss, url } = await serverWithHeartbeat();
    const ws = await client(url);
    await waitUntil(() => wss.clients.size === 1, 'the server to see the client');
    (ws as unknown as { _socket: Socket })._socket.pause(); // reads nothing from now on: never sees a ping
    const pongs = setInterval(() => ws.readyState === WebSocket.OPEN && ws.pong(Buffer.from('alive')), 20);
    cleanups.push(() => clearInterval(pongs));
    // Terminated at the second tick after the pause at the latest; allow many more for a loaded machine.
    await waitUntil(() => wss.clients.size === 0, 'the heartbeat to drop the non-reader', 20 * HEARTBEAT_MS);
  });

  it('keeps a peer that reads alive (its pongs echo the pings)', async () => {
    const { wss, url } = await serverWithHeartbeat();
    const ws = await client(url);
    let pings = 0;
    ws.on('ping', () => pings++);
    await waitUntil(() => pings >= 5, 'five heartbeats', 40 * HEARTBEAT_MS);
    expect(wss.clients.size).toBe(1);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });
});
