import { describe, expect, it } from 'vitest';
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
    const env = { NSCONSOLE_PORT: '5000', NSCONSOLE_NS_DIR: '/tmp/x', NSCONSOLE_TOKEN: 'env-token-env-token', NSCONSOLE_ALLOW_HOST: 'lab.example, other.example' };
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
    for (const flag of ['--host', '--port', '--token', '--ns-dir', '--shell', '--allow-host', '--session-grace', '--watch']) expect(helpText()).toContain(flag);
  });
});
