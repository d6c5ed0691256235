// A sandbox's init sets the sandbox up itself (scripts.ts INIT_PL): the mounts, hostname and loopback a new
// sandbox must have, made by that one process; and a setup that fails is a clear error naming the step, with
// nothing left on the host (no process of its uid range, no cgroup, no mount).
import { afterEach, describe, expect, test } from 'vitest';
import { AppError } from '../../server/errors.js';
import { sandboxCgroupDirs } from '../../server/sandbox/cgroups.js';
import { Sandbox } from '../../server/sandbox/sandbox.js';
import { waitUntil } from '../helpers/proc.js';
import { hostPidsWithUidIn, hostSandboxMounts, zombiesWithUidIn } from '../helpers/sandbox.js';

const UID_START = 1_650_000;
const RANGE = 65536;
const MIB = 1024 * 1024;
const limits = { pidsMax: 64, memoryBytes: 128 * MIB, diskBytes: 16 * MIB };
/** Linux refuses a hostname longer than this (HOST_NAME_MAX). */
const HOST_NAME_MAX = 64;

describe('sandbox setup by its init', () => {
  let sb: Sandbox | undefined;

  afterEach(async () => {
    await sb?.destroy();
    sb = undefined;
    await waitUntil(() => hostPidsWithUidIn(UID_START, RANGE).length === 0, 'sandbox processes to exit');
    expect(sandboxCgroupDirs()).toEqual([]);
    expect(hostSandboxMounts()).toEqual([]);
  });

  test('the init alone made the mounts, hostname and loopback; it is pid 1 and holds no other process', async () => {
    sb = await Sandbox.create({ id: 'setup', uidBase: UID_START, uidCount: RANGE, limits });
    const out = await sb.run(
      [
        '/bin/sh',
        '-c',
        'hostname; cat /sys/class/net/lo/operstate; findmnt -rn -o TARGET,FSTYPE -T /run; findmnt -rn -o TARGET,FSTYPE /etc; findmnt -rn -o TARGET,FSTYPE /tmp; cat /proc/1/comm; ls /proc | grep -c "^[0-9]"',
      ],
      'looking',
    );
    const [hostname, lo, run, etc, tmp, init, procs] = out.trim().split('\n');
    expect(hostname).toBe('sandbox-setup');
    expect(lo).toMatch(/^(unknown|up)$/); // loopback reports "unknown" when up
    expect(run).toBe('/run tmpfs');
    expect(etc).toBe('/etc overlay');
    expect(tmp).toBe('/tmp tmpfs');
    expect(init).toBe('sandbox-init');
    expect(Number(procs)).toBe(4); // init, the sh, its findmnt/ls pipeline's ls and grep are all that run
  });

  test("destroy leaves no zombie for the machine's PID 1 to reap: each parent reaps its child before it goes", async () => {
    // Killed together, unshare could go before reaping its init, whose zombie then went to PID 1 (2 of 10 here).
    for (let i = 0; i < 20; i++) {
      sb = await Sandbox.create({ id: `reap${i}`, uidBase: UID_START, uidCount: RANGE, limits });
      await sb.destroy();
      sb = undefined;
      expect(zombiesWithUidIn(UID_START, RANGE), `destroy ${i}`).toEqual([]);
    }
  });

  test('a setup step that fails is KERNEL_ERROR naming it, and leaves nothing on the host', async () => {
    const id = 'x'.repeat(HOST_NAME_MAX); // "sandbox-" + 64 characters: sethostname(2) answers EINVAL
    const err = await Sandbox.create({ id, uidBase: UID_START, uidCount: RANGE, limits }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'KERNEL_ERROR', message: expect.stringMatching(/sandbox setup: sethostname: /) });
  });
});
