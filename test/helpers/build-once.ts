// Vitest global setup: vitest runs the .ts sources, but a worker thread runs compiled JavaScript (Node 20 cannot
// run TypeScript). Build the server once before any test, so that the workers the tests start
// (dist/server/terminals/mirror/mirror-worker.js, see mirrorWorkerUrl; dist/server/proc/scan-worker.js, see
// scanWorkerUrl) are the ones the sources describe.
// `tsc -b` is incremental: with nothing changed it takes ~2 s.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '../..');
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-b', path.join(root, 'server')], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`tsc -b server failed; the tests need the compiled workers:\n${r.stdout}${r.stderr}`);
}
