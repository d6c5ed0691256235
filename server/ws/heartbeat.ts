// Drops sockets whose peer vanished without a FIN (a closed laptop, a dropped VPN) or stopped reading: every
// interval each socket must have answered the previous ping, else it is terminated, which frees its session for
// the grace timer. Each ping carries a fresh random payload and only a pong echoing it counts (RFC 6455 §5.5.3:
// a pong repeats the ping's data; browsers and ws do): a peer that does not read never sees the payload, so
// unsolicited pongs cannot keep it alive.
import { randomBytes } from 'node:crypto';
import type { WebSocket, WebSocketServer } from 'ws';

export const HEARTBEAT_INTERVAL_MS = 30_000;
/** Enough random bytes that a peer cannot guess the ping it has not read. */
const PING_NONCE_BYTES = 8;

export function startHeartbeat(servers: WebSocketServer[], intervalMs = HEARTBEAT_INTERVAL_MS): { dispose(): void } {
  /** the payload of the ping a socket has not answered yet; absent once answered */
  const awaiting = new WeakMap<WebSocket, Buffer>();
  const onConnection = (ws: WebSocket) => {
    ws.on('pong', (data: Buffer) => {
      const nonce = awaiting.get(ws);
      if (nonce && data.equals(nonce)) awaiting.delete(ws);
    });
  };
  for (const wss of servers) wss.on('connection', onConnection);
  const timer = setInterval(() => {
    for (const wss of servers) {
      for (const ws of wss.clients) {
        if (awaiting.has(ws)) {
          ws.terminate();
          continue;
        }
        const nonce = randomBytes(PING_NONCE_BYTES);
        awaiting.set(ws, nonce);
        ws.ping(nonce);
      }
    }
  }, intervalMs);
  timer.unref();
  return {
    dispose() {
      clearInterval(timer);
      for (const wss of servers) wss.off('connection', onConnection);
    },
  };
}
