// Drops sockets whose peer vanished without a FIN (a closed laptop, a dropped VPN): every interval each socket
// must have answered the previous ping, else it is terminated, which frees its session for the grace timer.
import type { WebSocket, WebSocketServer } from 'ws';

export const HEARTBEAT_INTERVAL_MS = 30_000;

export function startHeartbeat(servers: WebSocketServer[], intervalMs = HEARTBEAT_INTERVAL_MS): { dispose(): void } {
  const alive = new WeakMap<WebSocket, boolean>();
  const onConnection = (ws: WebSocket) => {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
  };
  for (const wss of servers) wss.on('connection', onConnection);
  const timer = setInterval(() => {
    for (const wss of servers) {
      for (const ws of wss.clients) {
        if (alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        ws.ping();
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
