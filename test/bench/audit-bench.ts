// What the audit log's write-before-answer costs a request: one synchronous write(2) of one JSON line, against
// building the same line without writing it. Both median of several runs, in one process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openAudit } from '../../server/audit/audit.js';
import { createLogger } from '../../server/log.js';
import { median, type Row } from './row.js';

const LINES = 20_000;
const RUNS = 5;
/** A request costs milliseconds end to end; the audit line should stay a small part of one. */
const TARGET_US = 50;

export async function benchAudit(): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-audit-bench-'));
  try {
    const event = {
      user: 'alice',
      ip: '127.0.0.1',
      action: 'session.attach' as const,
      session: 'x'.repeat(22),
      readOnly: false,
    };
    const ours: number[] = [];
    const base: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const audit = openAudit(path.join(dir, `audit-${run}.jsonl`), createLogger('silent'));
      let t0 = performance.now();
      for (let i = 0; i < LINES; i++) audit.record(event);
      ours.push(((performance.now() - t0) * 1000) / LINES);
      audit.close();
      let bytes = 0;
      t0 = performance.now();
      for (let i = 0; i < LINES; i++) bytes += JSON.stringify({ time: new Date().toISOString(), ...event }).length;
      if (bytes === 0) throw new Error('nothing built'); // uses the result, so the loop cannot be optimised away
      base.push(((performance.now() - t0) * 1000) / LINES);
    }
    const o = median(ours);
    const b = median(base);
    return [
      {
        figure: 'audit line written before the answer (per line)',
        ours: `${o.toFixed(2)} µs`,
        baseline: `${b.toFixed(2)} µs (the line built, not written)`,
        ratio: o / b,
        target: `< ${TARGET_US} µs`,
        met: o < TARGET_US,
        command: 'npm run bench -- audit',
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
