// The built web app (dist/web), served compressed. The build writes a Brotli (`.br`) and a gzip (`.gz`) copy
// beside each compressible file (vite.config.ts); a browser that accepts one of those gets it, with no
// compression work at request time. Anything without a compressed copy, or a client that takes neither, gets
// the plain file from express.static.
//
// Vite's files under /assets/ carry a content hash in their name: a new build gives new names, so browsers may
// keep them for a year without asking again. index.html (which names them) is revalidated on every load.
import express, { type Request, type RequestHandler, type Response } from 'express';
import { stat } from 'node:fs/promises';
import path from 'node:path';

/** A year, the longest a browser keeps anything: the content hash in the name, not the cache, decides freshness. */
const HASHED_ASSET_MAX_AGE_S = 365 * 24 * 3600;
const HASHED_ASSETS = /^\/assets\//;
/** In order of preference: Brotli is ~15% smaller than gzip on this app's JavaScript. */
const ENCODINGS = [
  { name: 'br', suffix: '.br' },
  { name: 'gzip', suffix: '.gz' },
] as const;

export function staticFiles(webRoot: string): RequestHandler {
  const root = path.resolve(webRoot);
  const headers = (res: Response, file: string): void => {
    res.setHeader('Vary', 'Accept-Encoding');
    if (HASHED_ASSETS.test('/' + path.relative(root, file).split(path.sep).join('/')))
      res.setHeader('Cache-Control', `public, max-age=${HASHED_ASSET_MAX_AGE_S}, immutable`);
  };
  const plain = express.static(root, { index: 'index.html', maxAge: 0, setHeaders: headers });
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(req, res, next);
    const file = fileFor(root, req.path);
    if (!file) return plain(req, res, next);
    compressedCopy(req, file).then(
      (copy) => {
        if (!copy) return plain(req, res, next);
        res.type(path.extname(file)); // the original's type; send keeps a Content-Type already set
        res.setHeader('Content-Encoding', copy.encoding);
        headers(res, file);
        // Relative to root: send then checks only the part under it for dotfiles (webRoot may sit under ~/.local).
        res.sendFile(path.relative(root, copy.file), { root }, (err?: Error) => {
          if (!err || res.headersSent) return; // Swallow: served, or the client went away mid-send
          // The copy vanished between stat and send (a rebuild): the plain file, or express.static's 404.
          res.removeHeader('Content-Encoding');
          res.removeHeader('Content-Type');
          plain(req, res, next);
        });
      },
      (err: unknown) => next(err),
    );
  };
}

/** The file a URL path names under `root` (`/` → index.html); null for anything outside it or malformed. */
function fileFor(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null; // malformed escapes: express.static answers those
  }
  if (decoded.includes('\0')) return null;
  const rel = decoded.endsWith('/') ? decoded + 'index.html' : decoded;
  const file = path.resolve(root, '.' + rel);
  return file.startsWith(root + path.sep) ? file : null;
}

async function compressedCopy(req: Request, file: string): Promise<{ file: string; encoding: string } | null> {
  // No Accept-Encoding at all: RFC 9110 allows anything, but old clients that send none expect plain bytes.
  if (!req.headers['accept-encoding']) return null;
  for (const { name, suffix } of ENCODINGS) {
    if (req.acceptsEncodings(name) !== name) continue;
    const st = await stat(file + suffix).catch(() => null); // no compressed copy: the next, or the plain file
    if (st?.isFile()) return { file: file + suffix, encoding: name };
  }
  return null;
}
