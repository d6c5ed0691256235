// createApp(deps) builds the Express app without listening; main.ts owns the http.Server.
import express, { type Router, type RequestHandler } from 'express';
import helmet from 'helmet';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Health } from '../../shared/api.js';
import type { Logger } from '../log.js';
import type { Auth } from './auth.js';
import { AppError } from '../errors.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { staticFiles } from './static-files.js';

export interface AppDeps {
  log: Logger;
  auth: Auth;
  version: string;
  /** the built web app (dist/web); served statically when present */
  webRoot: string;
  namespaceRoutes: Router;
  sessionRoutes: Router;
  /** more routes under /api (signed-in callers only): whoami */
  apiRoutes?: Router;
  /** `GET /metrics` (checks its own caller: admins only) */
  metrics?: RequestHandler;
  /** `/api/sandbox` (server/sandbox/routes.ts) */
  sandboxRoutes?: Router;
  /** `/api/lessons` (server/lessons/routes.ts) */
  lessonRoutes?: Router;
  /** GET /api/containers (server/http/container-routes.ts) */
  containerRoutes?: Router;
}

/** JSON bodies are small requests (a target, a name): anything bigger is a mistake or an attack. */
const MAX_JSON_BODY = '16kb';

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // API answers are live state behind a token: never cached (no-store, below), so an ETag would only cost a
  // SHA-1 of every answer (of a 100-row namespace list, too). The static files keep their own (send's).
  app.set('etag', false);

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // xterm.js and Svelte transitions inject <style> elements at run time; scripts stay strictly 'self'.
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      // Served over plain HTTP on loopback by default: HSTS would pin a lab machine's name to HTTPS.
      strictTransportSecurity: false,
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );

  app.use(hostCheck(deps.auth));
  // Browsers logged in by an older version still hold an HttpOnly token cookie that every port on this host
  // receives: expire it whenever it comes back.
  app.use((req, res, next) => {
    const clear = deps.auth.clearLegacyCookie(req);
    if (clear) res.append('Set-Cookie', clear);
    next();
  });

  // Namespaces, mount tables, lessons and sessions are one user's view of the machine at one moment: no browser
  // or proxy cache keeps them, and a later request never gets an earlier answer.
  app.use('/api', (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  app.get('/api/health', (_req, res) => {
    const body: Health = { ok: true, version: deps.version };
    res.json(body);
  });

  app.use('/api', originCheck(deps.auth), requireOwner(deps.auth), express.json({ limit: MAX_JSON_BODY }));
  app.use('/api/namespaces', deps.namespaceRoutes);
  app.use('/api/sessions', deps.sessionRoutes);
  if (deps.apiRoutes) app.use('/api', deps.apiRoutes);
  if (deps.sandboxRoutes) app.use('/api/sandbox', deps.sandboxRoutes);
  if (deps.lessonRoutes) app.use('/api/lessons', deps.lessonRoutes);
  if (deps.containerRoutes) app.use('/api/containers', deps.containerRoutes);
  app.use('/api', notFoundHandler);
  if (deps.metrics) app.get('/metrics', originCheck(deps.auth), deps.metrics);

  // `/?token=…` is the browser login: a wrong token is refused here; a right one gets the page, whose script
  // moves the token into origin-scoped storage and drops it from the address bar (history.replaceState). No
  // cookie: a cookie would go to every port on this host. Referrer-Policy: no-referrer (above) keeps the URL
  // out of every request the page makes meanwhile; no-store keeps it out of caches.
  app.get('/', (req, res, next) => {
    const token = req.query.token;
    if (token === undefined) return next();
    if (typeof token !== 'string' || !deps.auth.isOwnerToken(token)) {
      deps.auth.authFailed(req, 'wrong token in the URL');
      throw new AppError('UNAUTHORIZED', 'the token in the URL is not valid');
    }
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  if (existsSync(deps.webRoot)) {
    app.use(staticFiles(deps.webRoot));
  } else {
    deps.log.warn({ webRoot: deps.webRoot }, 'web app not built; run `npm run build`');
  }
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}

function hostCheck(auth: Auth): RequestHandler {
  return (req, _res, next) => {
    if (!auth.hostAllowed(req))
      return next(
        new AppError(
          'FORBIDDEN_HOST',
          `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed; add it with --allow-host`,
        ),
      );
    next();
  };
}

/** A browser sends Origin on cross-site requests; ours never come from another origin. */
function originCheck(auth: Auth): RequestHandler {
  return (req, _res, next) => {
    if (!auth.originAllowed(req))
      return next(new AppError('FORBIDDEN_ORIGIN', 'requests from another origin are refused'));
    next();
  };
}

function requireOwner(auth: Auth): RequestHandler {
  return (req, _res, next) => {
    const caller = auth.caller(req);
    if (caller?.role !== 'owner') {
      auth.authFailed(req);
      return next(
        new AppError(
          'UNAUTHORIZED',
          'missing or wrong token: open the URL that nsconsole printed, or send Authorization: Bearer TOKEN',
        ),
      );
    }
    next();
  };
}

export function defaultWebRoot(): string {
  // dist/server/http/app.js → dist/web
  return path.resolve(import.meta.dirname, '../../web');
}
