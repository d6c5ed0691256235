// The caps on what one scan reads (issue #16): command lines, mount tables by bytes and by time, and the scratch
// buffer that a big read must not leave behind.
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.js';
import { readCapped, readFactsJob } from '../../server/proc/scan-jobs.js';
import { ScanPool } from '../../server/proc/scan-pool.js';
import { COMMAND_MAX_BYTES } from '../../shared/api.js';
import { waitUntil } from '../helpers/proc.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('scan caps', () => {
  it('reads at most COMMAND_MAX_BYTES of a command line and marks it cut', async () => {
    const child = spawn('sh', ['-c', 'sleep 100; :', 'sh', 'y'.repeat(100_000), 'z'.repeat(100_000)], {
      stdio: 'ignore',
    });
    cleanups.push(() => child.kill('SIGKILL'));
    await waitUntil(
      () =>
        fs.existsSync(`/proc/${child.pid}/cmdline`) && fs.readFileSync(`/proc/${child.pid}/cmdline`).length > 200_000,
      'the long command line',
    );
    const [facts] = readFactsJob(fs, [child.pid as number], COMMAND_MAX_BYTES);
    expect(facts).toMatchObject({ uid: 0, commandTruncated: true });
    expect(facts && 'command' in facts && facts.command.length).toBe(COMMAND_MAX_BYTES);
    // An ordinary one is whole and unmarked.
    expect(readFactsJob(fs, [process.pid], COMMAND_MAX_BYTES)[0]).not.toHaveProperty('commandTruncated');
    const pool = new ScanPool(createLogger('silent'), 1);
    cleanups.push(() => pool.dispose());
    expect((await pool.facts([child.pid as number]))[0]).toMatchObject({ commandTruncated: true });
  });

  it('cuts a table at the byte cap on a line end, and drops a scratch buffer grown past its keep size', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-caps-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'table');
    writeFileSync(file, 'x'.repeat(99).concat('\n').repeat(40_000)); // 4 MB of 100-byte lines
    const small = readCapped(fs, file, { maxBytes: 1050, budgetMs: 1000 });
    expect(small.cut).toBe('bytes');
    expect(small.buf.length).toBe(1000);
    const big = readCapped(fs, file, { maxBytes: 8 * 1024 * 1024, budgetMs: 10_000 });
    expect(big.cut).toBeUndefined();
    expect(big.buf.length).toBe(4_000_000);
    expect((globalThis as { nsconsoleScratch?: Buffer }).nsconsoleScratch).toBeUndefined();
    const timed = readCapped(fs, file, { maxBytes: 8 * 1024 * 1024, budgetMs: -1 });
    expect(timed.cut).toBe('time');
    expect(timed.buf.length).toBe(0);
  });

  it('reads mount tables on the worker with the same answer as the main thread', async () => {
    const pool = new ScanPool(createLogger('silent'));
    cleanups.push(() => pool.dispose());
    const mnt = `mnt:${fs.readlinkSync('/proc/self/ns/mnt').slice(5, -1)}`;
    const [viaPid, self, none] = await pool.mountinfo(
      [
        { mnt, pids: [4_000_000, process.pid] },
        { mnt, pids: null },
        { mnt: 'mnt:1', pids: [process.pid] },
      ],
      8,
    );
    expect(viaPid?.pid).toBe(process.pid);
    expect(self?.pid).toBeNull();
    expect(none).toBeNull();
    expect(Buffer.from(viaPid!.raw).toString()).toContain(' / / ');
  });
});
