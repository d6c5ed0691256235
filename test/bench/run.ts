// `npm run bench`: every figure measured in one run, printed as a Markdown table. Never fails on time.
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import type { Row } from './row.js';

type Bench = { name: string; load: () => Promise<() => Promise<Row[]>> };

const BENCHES: Bench[] = [
  { name: 'terminals', load: async () => (await import('./terminal-bench.js')).benchTerminals },
  { name: 'namespaces', load: async () => (await import('./namespaces-bench.js')).benchNamespaces },
  { name: 'lessons', load: async () => (await import('./lessons-bench.js')).benchLessons },
  { name: 'processless', load: async () => (await import('./processless-bench.js')).benchProcessless },
  { name: 'fairness', load: async () => (await import('./fairness-bench.js')).benchFairness },
  { name: 'browser', load: async () => (await import('./browser-bench.js')).benchBrowser },
  { name: 'owners', load: async () => (await import('./owners-bench.js')).benchOwners },
  { name: 'sandbox', load: async () => (await import('./sandbox-bench.js')).benchSandbox },
  {
    name: 'sandbox-views',
    load: async () => (await import('./sandbox-views-bench.js')).benchSandboxViews,
  },
  { name: 'containers', load: async () => (await import('./containers-bench.js')).benchContainers },
  { name: 'audit', load: async () => (await import('./audit-bench.js')).benchAudit },
  { name: 'sessions', load: async () => (await import('./sessions-bench.js')).benchSessions },
  { name: 'screen-budget', load: async () => (await import('./screen-budget-bench.js')).benchScreenBudget },
];

function machine(): string {
  const kernel = os.release();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  let ul = '';
  try {
    ul = execFileSync('lsns', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // Swallow: lsns missing only drops the version from the header.
  }
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${kernel}, Node ${process.version}${ul ? `, ${ul}` : ''}`;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const rows: Row[] = [];
  for (const b of BENCHES) {
    if (only.length && !only.includes(b.name)) continue;
    process.stderr.write(`bench: ${b.name}…\n`);
    try {
      rows.push(...(await (await b.load())()));
    } catch (err) {
      process.stderr.write(`bench ${b.name} failed: ${(err as Error).stack ?? String(err)}\n`);
    }
  }
  const out = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}.`,
    '',
    '| figure | nsconsole | baseline | ratio | target | met | command |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.figure} | ${r.ours} | ${r.baseline} | ${r.ratio.toFixed(2)} | ${r.target} | ${r.met === undefined ? '' : r.met ? 'yes' : 'no'} | \`${r.command}\` |`,
    ),
  ];
  process.stdout.write(out.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(String(err) + '\n');
    process.exit(1);
  },
);
