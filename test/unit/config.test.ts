import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, helpText, parseConfig } from '../../server/config/config.js';

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
