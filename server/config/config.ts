// Flags and env (`NSCONSOLE_<NAME>`) → a validated Config. Flags win over env; env wins over defaults.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import {
  DEFAULT_MAX_SESSIONS_PER_USER,
  defaultScreenCells,
  minScreenMemoryMib,
  screenCellsOfMib,
  screenFits,
} from './limits.js';

export interface Config {
  host: string;
  port: number;
  token: string;
  nsDir: string;
  shell: string;
  allowHosts: string[];
  /** ms a session lives on after its last client leaves */
  sessionGraceMs: number;
  maxSessions: number;
  /** most sessions one user may hold at once; the token holder is held only by maxSessions (default DEFAULT_MAX_SESSIONS_PER_USER) */
  maxSessionsPerUser?: number;
  maxClientsPerSession: number;
  /** lines of scrollback kept by the server-side screen used for replay */
  scrollback: number;
  /** cells (12 bytes each) one session's replay screen may hold, cols × (rows + scrollback); wider sizes are narrowed (default: limits.ts defaultScreenCells) */
  screenCells?: number;
  /** 'events': hear namespace and mount changes from the kernel where it can (else poll); 'poll': always poll */
  watch: 'events' | 'poll';
  /** PEM certificate chain and key: serve HTTPS and WSS (both or neither); re-read on SIGHUP */
  tlsCert?: string;
  tlsKey?: string;
  /** a header naming the user, honoured only from trustedProxies (the oauth2-proxy pattern) */
  authHeader?: string;
  /** CIDRs whose requests may carry authHeader (default: 127.0.0.1/32 and ::1/128) */
  trustedProxies?: string[];
  /** when set, authHeader is believed only with `X-Nsconsole-Proxy-Secret: <this>` too (read from --proxy-secret-file) */
  proxySecret?: string;
  /** users (from authHeader) who see every session and /metrics; the token is always an admin */
  admins?: string[];
  /** JSON-lines audit file, reopened on SIGHUP */
  auditLog?: string;
  /** every session runs in its owner's sandbox (server/sandbox/); null: sessions run on the host */
  sandbox?: SandboxConfig | null;
  /** the Docker/Podman API socket that names containers; a missing one is normal (default /var/run/docker.sock) */
  dockerSocket?: string;
}

export interface SandboxConfig {
  /** first host uid (and gid) given to sandboxes, and how many: each sandbox takes SANDBOX_UID_COUNT of them */
  uidStart: number;
  uidCount: number;
  /** ms a sandbox lives on after its last session ends */
  idleMs: number;
  /** cgroup pids.max and memory limit (bytes), and the tmpfs size that holds all it writes (bytes) */
  pidsMax: number;
  memoryBytes: number;
  diskBytes: number;
}

interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  help: string;
  def?: string;
}

export const FLAGS: Record<string, FlagSpec> = {
  host: { type: 'string', help: 'address to bind', def: '127.0.0.1' },
  port: { type: 'string', help: 'port to listen on; 0 picks a free one', def: '4280' },
  token: {
    type: 'string',
    help: 'access token. Every local user can read a command line (ps, /proc/PID/cmdline): prefer NSCONSOLE_TOKEN or --token-file',
    def: 'random 32 bytes, base64url',
  },
  'token-file': {
    type: 'string',
    help: 'read the access token from FILE at start (surrounding whitespace trimmed); it must be ours and readable by nobody else (chmod 600)',
  },
  'ns-dir': { type: 'string', help: 'where created namespaces are persisted', def: '/run/nsconsole/ns' },
  shell: { type: 'string', help: 'shell to start in terminals', def: '$SHELL, else /bin/bash, else /bin/sh' },
  'allow-host': {
    type: 'string',
    multiple: true,
    help: 'extra Host header value to accept (repeatable; env: comma-separated)',
  },
  'session-grace': { type: 'string', help: 'seconds a session lives on after its last client leaves', def: '60' },
  'max-sessions': { type: 'string', help: 'most terminal sessions at once', def: '64' },
  'max-sessions-per-user': {
    type: 'string',
    help: 'most terminal sessions one user (from --auth-header) may hold at once, so that one person cannot take every --max-sessions slot; the token holder is limited only by --max-sessions',
    def: '16',
  },
  'max-clients': { type: 'string', help: 'most clients attached to one session', def: '16' },
  scrollback: { type: 'string', help: 'lines of scrollback replayed on reattach', def: '1000' },
  'screen-memory': {
    type: 'string',
    help: "MiB one session's replay screen may hold: cols × (rows + scrollback) cells of 12 bytes; a terminal asked to be larger is narrowed",
    def: '8, or what a 240×60 terminal with --scrollback needs if more',
  },
  watch: {
    type: 'string',
    help: 'how live views notice changes: events (from the kernel; polls where unavailable) or poll',
    def: 'events',
  },
  'tls-cert': {
    type: 'string',
    help: 'PEM certificate (chain) file: serve HTTPS and WSS; re-read on SIGHUP (needs --tls-key)',
  },
  'tls-key': { type: 'string', help: 'PEM private key file for --tls-cert; re-read on SIGHUP' },
  'auth-header': {
    type: 'string',
    help: 'request header naming the user (e.g. X-Forwarded-User from oauth2-proxy), honoured only from --trusted-proxy addresses. The proxy must be the only way in: bind nsconsole where only the proxy reaches it, since any local user can connect from loopback',
  },
  'trusted-proxy': {
    type: 'string',
    multiple: true,
    help: 'CIDR allowed to send --auth-header (repeatable; env: comma-separated)',
    def: '127.0.0.1/32 and ::1/128',
  },
  'proxy-secret-file': {
    type: 'string',
    help: 'with --auth-header: believe the header only when the request also carries X-Nsconsole-Proxy-Secret with the secret in FILE (chmod 600), so that other local users connecting from a trusted address cannot claim a name',
  },
  admin: {
    type: 'string',
    multiple: true,
    help: 'user (from --auth-header) who sees every session, may watch any read-only, and reads /metrics (repeatable; env: comma-separated); the token is always an admin',
  },
  'audit-log': {
    type: 'string',
    help: 'append one JSON line per audited action to FILE; reopened on SIGHUP (log rotation)',
  },
  sandbox: {
    type: 'boolean',
    help: "run every session in its owner's sandbox (own user, mount, PID, UTS, IPC, cgroup and loopback-only network namespaces; root inside is an unprivileged uid range outside)",
  },
  'sandbox-uids': {
    type: 'string',
    help: 'host uid/gid range for sandboxes, START:COUNT; each sandbox takes 65536 of it',
    def: '200000:655360',
  },
  'sandbox-idle': { type: 'string', help: 'seconds a sandbox lives on after its last session ends', def: '600' },
  'sandbox-pids': { type: 'string', help: 'most processes in one sandbox (cgroup pids.max)', def: '256' },
  'sandbox-memory': { type: 'string', help: 'memory limit of one sandbox in MiB (cgroup)', def: '512' },
  'sandbox-disk': { type: 'string', help: 'MiB one sandbox may write (its tmpfs size)', def: '256' },
  'docker-socket': {
    type: 'string',
    help: 'Docker or Podman API socket that names containers (missing: fine)',
    def: '/var/run/docker.sock',
  },
  help: { type: 'boolean', help: 'print this help and exit' },
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function helpText(): string {
  const lines = [
    'Usage: nsconsole [flags]',
    '',
    'A browser console for Linux namespaces.',
    '',
    'Flags (each also an env var NSCONSOLE_<NAME>, e.g. NSCONSOLE_NS_DIR):',
  ];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const arg = spec.type === 'string' ? ' VALUE' : '';
    lines.push(`  --${name}${arg}`.padEnd(28) + spec.help + (spec.def ? ` (default: ${spec.def})` : ''));
  }
  lines.push(
    '',
    'The token grants root shells. A --token on the command line is visible to every local user; NSCONSOLE_TOKEN (the',
    "environment is private to the process's owner) or --token-file keep it out of sight.",
  );
  return lines.join('\n');
}

/** A token is a line of printable ASCII; a file much bigger than that is not a token file. */
const MAX_TOKEN_FILE_BYTES = 4096;

/**
 * The token in `file`, trimmed. Refused (like ssh refuses a private key) when someone else could read or
 * change it: not ours or root's, or readable/writable by group or others.
 */
export function readTokenFile(file: string, flag = '--token-file'): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOCTTY);
  } catch (e) {
    throw new ConfigError(
      `${flag} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.() ?? 0;
    if (!st.isFile()) throw new ConfigError(`${flag} ${file}: not a regular file`);
    if (st.uid !== uid && st.uid !== 0)
      throw new ConfigError(
        `${flag} ${file}: owned by uid ${st.uid}, who can read and change the token; it must be ours`,
      );
    if (st.mode & 0o066)
      throw new ConfigError(
        `${flag} ${file}: readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 ${file}`,
      );
    if (st.size > MAX_TOKEN_FILE_BYTES)
      throw new ConfigError(`${flag} ${file}: ${st.size} bytes is too big for a token file`);
    const buf = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const token = buf.toString('utf8', 0, n).trim();
    if (!token) throw new ConfigError(`${flag} ${file}: the file is empty`);
    return token;
  } finally {
    closeSync(fd);
  }
}

/** Flags win over env; within one of them, a token and a token file together are a mistake. */
function pickToken(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string | undefined {
  const flag = typeof values.token === 'string' ? values.token : undefined;
  const flagFile = typeof values['token-file'] === 'string' ? values['token-file'] : undefined;
  if (flag !== undefined && flagFile !== undefined) throw new ConfigError('--token and --token-file: give one of them');
  if (flag !== undefined) return flag;
  if (flagFile !== undefined) return readTokenFile(flagFile);
  const envToken = env.NSCONSOLE_TOKEN || undefined;
  const envFile = env.NSCONSOLE_TOKEN_FILE || undefined;
  if (envToken !== undefined && envFile !== undefined)
    throw new ConfigError('NSCONSOLE_TOKEN and NSCONSOLE_TOKEN_FILE: set one of them');
  if (envFile !== undefined) return readTokenFile(envFile, 'NSCONSOLE_TOKEN_FILE');
  return envToken;
}

const intIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const ConfigSchema = z
  .object({
    host: z.string().min(1),
    port: intIn(0, 65535),
    token: z
      .string()
      .min(16, 'token must be at least 16 characters')
      .regex(/^[\x21-\x7e]+$/, 'token must be printable ASCII without spaces'),
    nsDir: z.string().startsWith('/', 'ns-dir must be an absolute path'),
    shell: z.string().startsWith('/', 'shell must be an absolute path'),
    allowHosts: z.array(z.string().min(1)),
    sessionGraceMs: z.coerce
      .number()
      .min(0)
      .max(86_400)
      .transform((s) => Math.round(s * 1000)),
    maxSessions: intIn(1, 10_000),
    maxSessionsPerUser: intIn(1, 10_000),
    maxClientsPerSession: intIn(1, 1000),
    scrollback: intIn(0, 100_000),
    screenCells: intIn(1, 4096).transform(screenCellsOfMib).optional(),
    watch: z.enum(['events', 'poll'], { error: 'must be events or poll' }),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    authHeader: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'must be an HTTP header name')
      .refine(
        (h) => !['authorization', 'cookie', 'host', 'origin'].includes(h.toLowerCase()),
        'must not be a header the browser or nsconsole already uses',
      )
      .transform((h) => h.toLowerCase())
      .optional(),
    trustedProxies: z.array(z.string().refine(isCidr, 'must be a CIDR such as 10.0.0.0/8 or an address')),
    admins: z.array(z.string().min(1)),
    proxySecret: z.string().min(16, 'the proxy secret must be at least 16 characters').optional(),
    auditLog: z.string().startsWith('/', 'audit-log must be an absolute path').optional(),
    sandbox: z
      .object({
        uids: z.string().regex(/^\d+:\d+$/, 'must be START:COUNT, e.g. 200000:655360'),
        idleMs: z.coerce
          .number()
          .min(0)
          .max(7 * 86_400)
          .transform((s) => Math.round(s * 1000)),
        pidsMax: intIn(8, 1_000_000),
        memoryBytes: intIn(16, 1_048_576).transform((m) => m * MIB),
        diskBytes: intIn(1, 1_048_576).transform((m) => m * MIB),
      })
      .transform((v, ctx) => {
        const [uidStart, uidCount] = v.uids.split(':').map(Number) as [number, number];
        if (uidStart < 1 || uidStart + uidCount > MAX_UID)
          ctx.addIssue({ code: 'custom', message: `uids must lie within 1..${MAX_UID} (never host uid 0)` });
        if (uidCount < SANDBOX_UID_COUNT)
          ctx.addIssue({ code: 'custom', message: `uids: COUNT must be at least ${SANDBOX_UID_COUNT} (one sandbox)` });
        return {
          uidStart,
          uidCount,
          idleMs: v.idleMs,
          pidsMax: v.pidsMax,
          memoryBytes: v.memoryBytes,
          diskBytes: v.diskBytes,
        };
      })
      .nullable(),
    dockerSocket: z.string().startsWith('/', 'docker-socket must be an absolute path'),
  })
  .refine((c) => (c.tlsCert === undefined) === (c.tlsKey === undefined), {
    message: '--tls-cert and --tls-key go together',
    path: ['tlsCert'],
  })
  .superRefine((c, ctx) => {
    if (c.screenCells === undefined || screenFits(c.screenCells, c.scrollback)) return;
    ctx.addIssue({
      code: 'custom',
      message: `too small for --scrollback ${c.scrollback}: an 80×24 terminal and its scrollback need at least ${minScreenMemoryMib(c.scrollback)} MiB`,
      path: ['screenCells'],
    });
  })
  .refine((c) => c.proxySecret === undefined || c.authHeader !== undefined, {
    message: 'a proxy secret is for --auth-header: give that too',
    path: ['proxySecret'],
  })
  .transform((c) => ({ ...c, screenCells: c.screenCells ?? defaultScreenCells(c.scrollback) }));

/** `ADDR` or `ADDR/BITS`, IPv4 or IPv6. */
export function isCidr(s: string): boolean {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** Loopback only, and exactly 127.0.0.1 (not 127.0.0.0/8): see --auth-header's help on who else that admits. */
export const DEFAULT_TRUSTED_PROXIES = ['127.0.0.1/32', '::1/128'] as const;

const MIB = 1024 * 1024;
/** uids (and gids) one sandbox maps: 0..65535 inside, as a Debian system expects (nobody is 65534). */
export const SANDBOX_UID_COUNT = 65536;
/** the highest host uid + 1: (uid_t)-1 is "no uid" */
const MAX_UID = 4_294_967_295;

/** The flag, else NSCONSOLE_SANDBOX=1|true|yes. */
function sandboxOn(flag: unknown, env: string | undefined): boolean {
  if (flag === true) return true;
  return env !== undefined && /^(1|true|yes|on)$/i.test(env.trim());
}

export type ParsedArgs = { help: true } | { help: false; config: Config };

export function defaultShell(env: NodeJS.ProcessEnv): string {
  if (env.SHELL && env.SHELL.startsWith('/') && existsSync(env.SHELL)) return env.SHELL;
  return existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

/** Parse argv (without node and script) and env into a Config; throws ConfigError with a readable message. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(FLAGS).map(([k, v]) => [k, { type: v.type, multiple: v.multiple ?? false }]),
    );
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n\n${helpText()}`);
  }
  if (values.help) return { help: true };
  const pick = (name: string): string | undefined => {
    const flag = values[name];
    if (typeof flag === 'string') return flag;
    return env[`NSCONSOLE_${name.toUpperCase().replace(/-/g, '_')}`] || undefined;
  };
  const list = (name: string): string[] | undefined => {
    const flag = values[name];
    if (Array.isArray(flag)) return flag;
    const e = env[`NSCONSOLE_${name.toUpperCase().replace(/-/g, '_')}`];
    return e
      ? e
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
  };
  const allowHosts = list('allow-host') ?? [];
  const raw = {
    host: pick('host') ?? '127.0.0.1',
    port: pick('port') ?? '4280',
    token: pickToken(values, env) ?? randomBytes(32).toString('base64url'),
    nsDir: pick('ns-dir') ?? '/run/nsconsole/ns',
    shell: pick('shell') ?? defaultShell(env),
    allowHosts,
    sessionGraceMs: pick('session-grace') ?? '60',
    maxSessions: pick('max-sessions') ?? '64',
    maxSessionsPerUser: pick('max-sessions-per-user') ?? String(DEFAULT_MAX_SESSIONS_PER_USER),
    maxClientsPerSession: pick('max-clients') ?? '16',
    scrollback: pick('scrollback') ?? '1000',
    screenCells: pick('screen-memory'),
    watch: pick('watch') ?? 'events',
    tlsCert: pick('tls-cert'),
    tlsKey: pick('tls-key'),
    authHeader: pick('auth-header'),
    trustedProxies: list('trusted-proxy') ?? [...DEFAULT_TRUSTED_PROXIES],
    admins: list('admin') ?? [],
    proxySecret:
      pick('proxy-secret-file') === undefined
        ? undefined
        : readTokenFile(pick('proxy-secret-file') as string, '--proxy-secret-file'),
    auditLog: pick('audit-log'),
    sandbox: sandboxOn(values.sandbox, env.NSCONSOLE_SANDBOX)
      ? {
          uids: pick('sandbox-uids') ?? '200000:655360',
          idleMs: pick('sandbox-idle') ?? '600',
          pidsMax: pick('sandbox-pids') ?? '256',
          memoryBytes: pick('sandbox-memory') ?? '512',
          diskBytes: pick('sandbox-disk') ?? '256',
        }
      : null,
    dockerSocket: pick('docker-socket') ?? '/var/run/docker.sock',
  };
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues
      .map((i) => {
        const flag = String(i.path[0])
          .replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
          .replace('session-grace-ms', 'session-grace')
          .replace('max-clients-per-session', 'max-clients')
          .replace('screen-cells', 'screen-memory')
          .replace('trusted-proxies', 'trusted-proxy')
          .replace('admins', 'admin')
          .replace(/^proxy-secret$/, 'proxy-secret-file');
        return `--${flag}${i.path.length > 1 && flag !== 'trusted-proxy' && flag !== 'admin' ? ` ${i.path.slice(1).join('.')}` : ''}: ${i.message}`;
      })
      .join('\n');
    throw new ConfigError(msg);
  }
  return { help: false, config: r.data };
}
