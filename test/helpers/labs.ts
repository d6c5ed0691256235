// Requests as a proxied user (a header) from a chosen local address (127.0.0.2 plays the untrusted proxy).
import http from 'node:http';
import WebSocket from 'ws';

export interface Answer {
  status: number;
  body: string;
  json<T = unknown>(): T;
}

export interface As {
  /** the user the (proxy) header names; undefined: no header */
  user?: string;
  /** Bearer token */
  token?: string;
  /** source address; default 127.0.0.1 (trusted) */
  from?: string;
  /** more headers (e.g. the proxy secret) */
  headers?: Record<string, string>;
}

export const USER_HEADER = 'x-forwarded-user';

function headersFor(as: As): Record<string, string> {
  return {
    ...(as.user !== undefined ? { [USER_HEADER]: as.user } : {}),
    ...(as.token !== undefined ? { authorization: `Bearer ${as.token}` } : {}),
    ...as.headers,
  };
}

export function request(
  base: string,
  pathname: string,
  as: As,
  opts: { method?: string; body?: unknown } = {},
): Promise<Answer> {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      base + pathname,
      {
        method: opts.method ?? 'GET',
        localAddress: as.from ?? '127.0.0.1',
        agent: false,
        headers: {
          ...headersFor(as),
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, json: <T>() => JSON.parse(text) as T }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function wsAs(base: string, pathname: string, as: As): WebSocket {
  return new WebSocket(base.replace(/^http/, 'ws') + pathname, ['nsconsole'], {
    headers: headersFor(as),
    localAddress: as.from ?? '127.0.0.1',
  });
}

/** The refused upgrade's HTTP status, or 101 when it opened (then the socket is closed). */
export function upgradeStatus(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', (err) => {
      // 'unexpected-response' already answered; other errors are real
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

export async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
