import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, helpText, parseConfig } from '../../server/config/config.js';
import { DEFAULT_MAX_SESSIONS_PER_USER, DEFAULT_SCREEN_CELLS, fitScreen } from '../../server/config/limits.js';
import { MAX_COLS, MAX_ROWS } from '../../shared/constants.js';

const config = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = parseConfig(argv, env);
  if (r.help) throw new Error('unexpected help');
  return r.config;
};

describe('parseConfig', () => {
  it('defaults to loopback:4280, a random token and /run/nsconsole/ns', () => {
    const c = config([], { SHELL: '/bin/sh' });
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(4280);
    expect(c.nsDir).toBe('/run/nsconsole/ns');
    expect(c.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.sessionGraceMs).toBe(60_000);
    expect(c.shell).toBe('/bin/sh');
    expect(config([]).token).not.toBe(c.token);
  });

  it('reads NSCONSOLE_<NAME> env vars and lets flags win', () => {
    const env = {
      NSCONSOLE_PORT: '5000',
      NSCONSOLE_NS_DIR: '/tmp/x',
      NSCONSOLE_TOKEN: 'env-token-env-token',
      NSCONSOLE_ALLOW_HOST: 'lab.example, other.example',
    };
    const c = config(['--port', '0'], env);
    expect(c.port).toBe(0);
    expect(c.nsDir).toBe('/tmp/x');
    expect(c.token).toBe('env-token-env-token');
    expect(c.allowHosts).toEqual(['lab.example', 'other.example']);
  });

  it('takes --session-grace in seconds and repeatable --allow-host', () => {
    const c = config(['--session-grace', '1.5', '--allow-host', 'a.example', '--allow-host', 'b.example:80']);
    expect(c.sessionGraceMs).toBe(1500);
    expect(c.allowHosts).toEqual(['a.example', 'b.example:80']);
  });

  it('hears changes from the kernel unless told to poll', () => {
    expect(config([]).watch).toBe('events');
    expect(config(['--watch', 'poll']).watch).toBe('poll');
    expect(config([], { NSCONSOLE_WATCH: 'poll' }).watch).toBe('poll');
  });

  it.each([
    [['--port', '70000'], /--port/],
    [['--port', 'abc'], /--port/],
    [['--token', 'short'], /--token.*16/],
    [['--ns-dir', 'relative/dir'], /--ns-dir.*absolute/],
    [['--session-grace', '-1'], /--session-grace/],
    [['--watch', 'inotify'], /--watch: must be events or poll/],
    [['--bogus'], /bogus/],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => parseConfig(argv, {})).toThrow(ConfigError);
    expect(() => parseConfig(argv, {})).toThrow(message);
  });

  it('answers --help with every flag', () => {
    expect(parseConfig(['--help'], {})).toEqual({ help: true });
    for (const flag of [
      '--host',
      '--port',
      '--token',
      '--ns-dir',
      '--shell',
      '--allow-host',
      '--session-grace',
      '--watch',
    ])
      expect(helpText()).toContain(flag);
  });
});

describe('--token-file (a --token is visible to every local user in ps)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function tokenFile(content: string, mode: number): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-config-'));
    dirs.push(dir);
    const file = path.join(dir, 'token');
    writeFileSync(file, content, { mode });
    chmodSync(file, mode); // past the umask
    return file;
  }

  it('reads the token from the file, trimmed, from the flag or NSCONSOLE_TOKEN_FILE', () => {
    const file = tokenFile('  file-token-file-token\n', 0o600);
    expect(config(['--token-file', file]).token).toBe('file-token-file-token');
    expect(config([], { NSCONSOLE_TOKEN_FILE: file }).token).toBe('file-token-file-token');
    expect(config(['--token-file', file], { NSCONSOLE_TOKEN: 'env-token-env-token' }).token, 'flags win over env').toBe(
      'file-token-file-token',
    );
  });

  it.each([
    [0o644, /readable or writable by group or others \(mode 644\); chmod 600/],
    [0o640, /mode 640/],
    [0o602, /mode 602/],
  ])('refuses a file with mode %s', (mode, message) => {
    const file = tokenFile('file-token-file-token\n', mode);
    expect(() => parseConfig(['--token-file', file], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--token-file', file], {})).toThrow(message);
  });

  it('refuses a missing or empty file, and a token given twice', () => {
    expect(() => parseConfig(['--token-file', '/nonexistent/token'], {})).toThrow(
      /--token-file \/nonexistent\/token: no such file/,
    );
    expect(() => parseConfig(['--token-file', tokenFile(' \n', 0o600)], {})).toThrow(/empty/);
    const file = tokenFile('file-token-file-token', 0o600);
    expect(() => parseConfig(['--token', 'flag-token-flag-token', '--token-file', file], {})).toThrow(
      /give one of them/,
    );
    expect(() => parseConfig([], { NSCONSOLE_TOKEN: 'env-token-env-token', NSCONSOLE_TOKEN_FILE: file })).toThrow(
      /set one of them/,
    );
    expect(() => parseConfig(['--token-file', tokenFile('short', 0o600)], {})).toThrow(/16/);
  });

  it('says in --help that --token shows in ps, and what to use instead', () => {
    const help = helpText();
    expect(help).toContain('--token-file');
    expect(help).toMatch(/--token VALUE .*ps.*NSCONSOLE_TOKEN or --token-file/);
  });
});

describe('labs flags (TLS, proxy identity, admins, audit log)', () => {
  const cfg = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = parseConfig(argv, env);
    if (r.help) throw new Error('help');
    return r.config;
  };

  it('reads each flag and its NSCONSOLE_ env var; repeatable ones take a comma list from env', () => {
    const c = cfg([
      '--tls-cert',
      '/c.pem',
      '--tls-key',
      '/k.pem',
      '--auth-header',
      'X-Forwarded-User',
      '--trusted-proxy',
      '10.0.0.0/8',
      '--trusted-proxy',
      '::1',
      '--admin',
      'alice',
      '--admin',
      'bob',
      '--audit-log',
      '/var/log/a.jsonl',
    ]);
    expect(c).toMatchObject({
      tlsCert: '/c.pem',
      tlsKey: '/k.pem',
      authHeader: 'x-forwarded-user',
      trustedProxies: ['10.0.0.0/8', '::1'],
      admins: ['alice', 'bob'],
      auditLog: '/var/log/a.jsonl',
    });
    const e = cfg([], {
      NSCONSOLE_TLS_CERT: '/c',
      NSCONSOLE_TLS_KEY: '/k',
      NSCONSOLE_AUTH_HEADER: 'X-User',
      NSCONSOLE_TRUSTED_PROXY: '10.1.0.0/16, 10.2.0.0/16',
      NSCONSOLE_ADMIN: 'carol',
      NSCONSOLE_AUDIT_LOG: '/a',
    });
    expect(e).toMatchObject({
      tlsCert: '/c',
      tlsKey: '/k',
      authHeader: 'x-user',
      trustedProxies: ['10.1.0.0/16', '10.2.0.0/16'],
      admins: ['carol'],
      auditLog: '/a',
    });
  });

  it('defaults: no TLS, no header, trusted proxies exactly 127.0.0.1 and ::1, no admins but the token', () => {
    const c = cfg([]);
    expect(c.tlsCert).toBeUndefined();
    expect(c.authHeader).toBeUndefined();
    expect(c.trustedProxies).toEqual(['127.0.0.1/32', '::1/128']);
    expect(c.admins).toEqual([]);
  });

  it('refuses half a TLS pair, a bad CIDR, a header nsconsole uses itself, and a relative audit path', () => {
    expect(() => cfg(['--tls-cert', '/c'])).toThrow(/--tls-cert and --tls-key go together/);
    expect(() => cfg(['--tls-key', '/k'])).toThrow(/go together/);
    expect(() => cfg(['--trusted-proxy', '10.0.0.0/33'])).toThrow(/--trusted-proxy: must be a CIDR/);
    expect(() => cfg(['--trusted-proxy', 'proxy.example'])).toThrow(/--trusted-proxy: must be a CIDR/);
    expect(() => cfg(['--auth-header', 'Authorization'])).toThrow(/--auth-header/);
    expect(() => cfg(['--auth-header', 'X User'])).toThrow(/--auth-header: must be an HTTP header name/);
    expect(() => cfg(['--audit-log', 'audit.jsonl'])).toThrow(/--audit-log: audit-log must be an absolute path/);
  });

  it('says in --help that the proxy must be the only way in', () => {
    expect(helpText()).toMatch(/--auth-header VALUE .*only way in/);
  });
});

describe('--proxy-secret-file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-proxy-secret-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (content: string, mode: number) => {
    const f = path.join(dir, `s-${Math.random().toString(36).slice(2)}`);
    writeFileSync(f, content);
    chmodSync(f, mode);
    return f;
  };
  it('reads the secret like a token file and needs --auth-header', () => {
    const f = file('a-proxy-secret-of-some-length\n', 0o600);
    const r = parseConfig(['--auth-header', 'X-User', '--proxy-secret-file', f], {});
    expect(!r.help && r.config.proxySecret).toBe('a-proxy-secret-of-some-length');
    expect(() => parseConfig(['--proxy-secret-file', f], {})).toThrow(
      /--proxy-secret-file: a proxy secret is for --auth-header/,
    );
    expect(() =>
      parseConfig(['--auth-header', 'X-User', '--proxy-secret-file', file('a-proxy-secret-of-some-length', 0o644)], {}),
    ).toThrow(/--proxy-secret-file .*chmod 600/);
    expect(() => parseConfig(['--auth-header', 'X-User', '--proxy-secret-file', file('short', 0o600)], {})).toThrow(
      /--proxy-secret-file: the proxy secret must be at least 16/,
    );
  });
});

describe('per-user and per-session limits (--max-sessions-per-user, --screen-memory)', () => {
  it('defaults to 16 sessions per user and an 8 MiB screen, from the flag or the env var', () => {
    const c = config([]);
    expect(c.maxSessionsPerUser).toBe(DEFAULT_MAX_SESSIONS_PER_USER);
    expect(c.maxSessionsPerUser).toBe(16);
    expect(c.screenCells).toBe(DEFAULT_SCREEN_CELLS);
    expect(c.screenCells).toBe(Math.floor((8 * 1024 * 1024) / 12));
    expect(config(['--max-sessions-per-user', '3']).maxSessionsPerUser).toBe(3);
    expect(config([], { NSCONSOLE_MAX_SESSIONS_PER_USER: '5' }).maxSessionsPerUser).toBe(5);
    expect(config(['--max-sessions-per-user', '4'], { NSCONSOLE_MAX_SESSIONS_PER_USER: '5' }).maxSessionsPerUser).toBe(
      4,
    );
    expect(config(['--screen-memory', '2']).screenCells).toBe(Math.floor((2 * 1024 * 1024) / 12));
    expect(config([], { NSCONSOLE_SCREEN_MEMORY: '2' }).screenCells).toBe(Math.floor((2 * 1024 * 1024) / 12));
    const help = helpText();
    expect(help).toContain('--max-sessions-per-user');
    expect(help).toContain('--screen-memory');
  });

  it.each([
    [['--max-sessions-per-user', '0'], /--max-sessions-per-user/],
    [['--max-sessions-per-user', 'many'], /--max-sessions-per-user/],
    [['--screen-memory', '0'], /--screen-memory/],
    // 80 × (24 + 100000) cells of 12 bytes are 92 MiB: the default terminal would not fit in 8.
    [['--scrollback', '100000', '--screen-memory', '8'], /--screen-memory: too small for --scrollback 100000.*92 MiB/],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => parseConfig(argv, {})).toThrow(message);
  });

  it('grows the default budget with --scrollback, so that a 240×60 window is never narrowed', () => {
    expect(config(['--scrollback', '10000']).screenCells).toBe(240 * (60 + 10_000));
    expect(config(['--scrollback', '100']).screenCells).toBe(DEFAULT_SCREEN_CELLS);
    const c = config(['--scrollback', '10000']);
    expect(fitScreen(240, 60, { scrollback: c.scrollback, cells: c.screenCells ?? 0 })).toEqual({
      cols: 240,
      rows: 60,
    });
    expect(fitScreen(1000, 60, { scrollback: c.scrollback, cells: c.screenCells ?? 0 }).cols).toBe(240);
  });

  it('fits a terminal in the budget by narrowing it, keeping its height', () => {
    const budget = { scrollback: 1000, cells: DEFAULT_SCREEN_CELLS };
    expect(fitScreen(80, 24, budget)).toEqual({ cols: 80, rows: 24 });
    expect(fitScreen(300, 100, budget)).toEqual({ cols: 300, rows: 100 });
    // The largest size the protocol allows would take 1000 × 1500 × 12 = 18 MB.
    const widest = fitScreen(MAX_COLS, MAX_ROWS, budget);
    expect(widest).toEqual({ cols: 466, rows: MAX_ROWS });
    expect(widest.cols * (widest.rows + budget.scrollback)).toBeLessThanOrEqual(budget.cells);
    // Any budget the config accepts keeps at least 2 columns at the tallest size.
    expect(fitScreen(MAX_COLS, MAX_ROWS, { scrollback: 0, cells: 80 * 24 }).cols).toBeGreaterThanOrEqual(2);
  });
});
