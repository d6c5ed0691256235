// The namespace routes on a bare Express app (port 0) with express.json() and the real error handler, for
// testing the REST contract of the engine without the rest of the server.
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { errorHandler, notFoundHandler } from '../../server/http/errors.js';
import { namespaceRoutes } from '../../server/http/namespace-routes.js';
import { createLogger } from '../../server/log.js';
import type { NamespaceEngine } from '../../server/namespaces/engine.js';

export interface NsApp {
  base: string;
  request(pathname: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function startNamespaceApp(engine: NamespaceEngine): Promise<NsApp> {
  const log = createLogger('silent');
  const app = express();
  app.use('/api', express.json());
  app.use('/api/namespaces', namespaceRoutes(engine));
  app.use(notFoundHandler);
  app.use(errorHandler(log));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    request: (pathname, init = {}) =>
      fetch(base + pathname, {
        ...init,
        headers: {
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...(init.headers as Record<string, string> | undefined),
        },
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
