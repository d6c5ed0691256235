// Issue 16 item 8 (helper amplification): 500 persisted mount namespaces without processes, all peers of one
// shared mount on the host, and a mount made there every second (it propagates into all 500, so every cached
// table is invalid at each list). Figures:
//  - the namespace list (engine) while this goes on, median and max; baseline: what main did per list — one
//    `nsenter --mount=FILE -- cat /proc/self/mountinfo` per namespace (500 helper processes)
//  - CPU of helper processes during those lists (cutime+cstime of the bench): target 0
// Standalone: `npx tsc -b && node dist/test/bench/processless-bench.js`. Never fails on time.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createNamespaceEngine } from '../../server/namespaces/engine.js';
import { childrenCpuMs } from '../../server/namespaces/watch-timing.js';
import { processlessNsfsMounts } from '../../server/mounts/by-id.js';
import { createLogger } from '../../server/log.js';
import { median, type Row } from './row.js';

const NAMESPACES = 500;
const LISTS = 10;
const MOUNT_EVERY_MS = 1000;
/** Persisting from several processes at once hides spawn latency without swamping two cores. */
const BUILD_PARALLEL = 8;
/** unshare --mount=FILE fails with EINVAL now and then on 6.18 (non-monotonic namespace ids): retry. */
const PERSIST_ATTEMPTS = 30;

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );
}

async function persist(file: string): Promise<void> {
  writeFileSync(file, '');
  for (let i = 1; ; i++) {
    try {
      await run('unshare', [`--mount=${file}`, '--propagation', 'unchanged', '--', 'true']);
      return;
    } catch (err) {
      if (i >= PERSIST_ATTEMPTS || !/Invalid argument/.test(String(err))) throw err;
    }
  }
}

export async function benchProcessless(): Promise<Row[]> {
  const root = mkdtempSync(path.join(tmpdir(), 'nsconsole-bench-processless-'));
  const nsDir = path.join(root, 'ns');
  const shared = path.join(root, 'shared');
  mkdirSync(nsDir);
  mkdirSync(shared);
  const files: string[] = [];
  const engine = createNamespaceEngine({ nsDir: path.join(root, 'engine-ns'), log: createLogger('silent') });
  try {
    const idle: number[] = [];
    for (let i = 0; i < LISTS; i++) {
      const t0 = performance.now();
      await engine.list('mnt');
      idle.push(performance.now() - t0);
    }
    await run('mount', ['--bind', '--make-private', nsDir, nsDir]);
    await run('mount', ['-t', 'tmpfs', 'bench-shared', shared]);
    await run('mount', ['--make-shared', shared]);
    for (let i = 0; i < NAMESPACES; i += BUILD_PARALLEL) {
      await Promise.all(
        Array.from({ length: Math.min(BUILD_PARALLEL, NAMESPACES - i) }, async (_, k) => {
          const file = path.join(nsDir, `ns${i + k}`);
          await persist(file);
          files.push(file);
        }),
      );
    }
    const list0 = await engine.list('mnt'); // first read of every table
    let n = 0;
    const mountOnce = async () => {
      const dir = path.join(shared, `m${n++}`);
      mkdirSync(dir);
      await run('mount', ['-t', 'tmpfs', 'tick', dir]);
    };
    const times: number[] = [];
    let childrenDuringLists = 0;
    for (let i = 0; i < LISTS; i++) {
      // A mount every MOUNT_EVERY_MS, each listed right after it propagated: every processless table changed.
      await new Promise((r) => setTimeout(r, MOUNT_EVERY_MS));
      await mountOnce();
      const c0 = childrenCpuMs();
      const t0 = performance.now();
      const list = await engine.list('mnt');
      times.push(performance.now() - t0);
      childrenDuringLists += childrenCpuMs() - c0;
      if (list.namespaces.filter((ns) => ns.nprocs === 0).length < NAMESPACES)
        throw new Error('bench namespaces missing from the list');
    }
    // The processless part alone (what this change made of it): every table re-read after one propagated mount.
    const ids = list0.namespaces
      .filter((ns) => ns.nprocs === 0 && ns.nsfs.some((p) => p.startsWith(nsDir + '/')))
      .map((ns) => ns.id);
    const part: number[] = [];
    for (let i = 0; i < LISTS; i++) {
      await mountOnce();
      const t0 = performance.now();
      for (const id of ids) processlessNsfsMounts(id);
      part.push(performance.now() - t0);
    }
    // Baseline: what each list cost on main, one nsenter … cat per processless namespace.
    const b0 = performance.now();
    for (const f of files) await run('nsenter', [`--mount=${f}`, '--', 'cat', '/proc/self/mountinfo']);
    const baseline = performance.now() - b0;
    const ours = median(times);
    const idleMs = median(idle);
    const cmd = 'npx tsc -b && node dist/test/bench/processless-bench.js';
    return [
      {
        figure: `list with ${NAMESPACES} processless shared-propagation namespaces, 1 mount/s (median of ${LISTS}; max ${Math.max(...times).toFixed(0)} ms)`,
        ours: `${ours.toFixed(0)} ms`,
        baseline: `${baseline.toFixed(0)} ms (${NAMESPACES} × nsenter … cat)`,
        ratio: ours / baseline,
        target: '≤ 0.5×, no helpers',
        met: ours <= baseline / 2 && childrenDuringLists < 10,
        command: cmd,
      },
      {
        figure: `re-reading the nsfs binds of those ${NAMESPACES} namespaces after one propagated mount (median of ${LISTS})`,
        ours: `${median(part).toFixed(1)} ms`,
        baseline: `${baseline.toFixed(0)} ms (${NAMESPACES} × nsenter … cat)`,
        ratio: median(part) / baseline,
        target: '≤ 0.1×',
        met: median(part) <= baseline / 10,
        command: cmd,
      },
      {
        figure: `the same list against the list before the ${NAMESPACES} namespaces existed (median of ${LISTS})`,
        ours: `${ours.toFixed(0)} ms`,
        baseline: `${idleMs.toFixed(0)} ms`,
        ratio: ours / idleMs,
        target: 'bounded: ≤ 20,000 statmounts a scan, the rest in the background',
        command: cmd,
      },
      {
        figure: `helper-process CPU during those ${LISTS} lists`,
        ours: `${childrenDuringLists.toFixed(0)} ms`,
        baseline: '—',
        ratio: 0,
        target: '0 ms (no helper per namespace)',
        met: childrenDuringLists < 10,
        command: cmd,
      },
    ];
  } finally {
    engine.dispose();
    await run('umount', ['--recursive', '--lazy', shared]).catch(() => undefined); // Swallow: cleanup goes on
    await run('umount', ['--recursive', '--lazy', nsDir]).catch(() => undefined); // Swallow: cleanup goes on
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  benchProcessless().then(
    (rows) => {
      for (const r of rows)
        process.stdout.write(
          `${r.figure}: ${r.ours} (baseline ${r.baseline}) target ${r.target} met=${String(r.met)}\n`,
        );
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(String((err as Error).stack ?? err) + '\n');
      process.exit(1);
    },
  );
}
