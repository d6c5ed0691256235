import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../server/config/config.js';

const config = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = parseConfig(argv, env);
  if (r.help) throw new Error('unexpected help');
  return r.config;
};

describe('--sandbox flags', () => {
  it('off by default; --sandbox or NSCONSOLE_SANDBOX=1 turns it on with the documented defaults', () => {
    expect(config([]).sandbox).toBeNull();
    const c = config(['--sandbox']).sandbox;
    expect(c).toEqual({
      uidStart: 200_000,
      uidCount: 655_360,
      idleMs: 600_000,
      pidsMax: 256,
      memoryBytes: 512 * 2 ** 20,
      diskBytes: 256 * 2 ** 20,
    });
    expect(config([], { NSCONSOLE_SANDBOX: '1' }).sandbox).not.toBeNull();
    expect(config([], { NSCONSOLE_SANDBOX: '0' }).sandbox).toBeNull();
  });

  it('reads each limit', () => {
    const c = config([
      '--sandbox',
      '--sandbox-uids',
      '300000:131072',
      '--sandbox-idle',
      '1.5',
      '--sandbox-pids',
      '64',
      '--sandbox-memory',
      '128',
      '--sandbox-disk',
      '16',
    ]).sandbox;
    expect(c).toEqual({
      uidStart: 300_000,
      uidCount: 131_072,
      idleMs: 1500,
      pidsMax: 64,
      memoryBytes: 128 * 2 ** 20,
      diskBytes: 16 * 2 ** 20,
    });
  });

  it('refuses host uid 0, a range too small for one sandbox, and a malformed range', () => {
    expect(() => config(['--sandbox', '--sandbox-uids', '0:65536'])).toThrow(ConfigError);
    expect(() => config(['--sandbox', '--sandbox-uids', '0:65536'])).toThrow(/never host uid 0/);
    expect(() => config(['--sandbox', '--sandbox-uids', '200000:1000'])).toThrow(/at least 65536/);
    expect(() => config(['--sandbox', '--sandbox-uids', '200000'])).toThrow(/START:COUNT/);
    expect(() => config(['--sandbox', '--sandbox-pids', '2'])).toThrow(ConfigError);
  });
});
