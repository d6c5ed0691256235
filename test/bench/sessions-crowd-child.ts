// The crowd of the sessions bench, in a process of its own so that receiving its floods does not delay the
// measuring client's event loop (a real crowd's browsers run elsewhere too). Opens N sessions on the server,
// starts `COMMAND` in each, says {"flooding":true} on stdout, and on a line on stdin prints
// {"bytes":…,"ms":…} (output received since the floods started) and exits, closing its sockets.
// Usage: node sessions-crowd-child.js BASE TOKEN N COMMAND
import { createInterface } from 'node:readline';
import { BenchClient } from './terminal-bench-client.js';
import type { ServerProcess } from '../helpers/process.js';

const [base, token, n, command] = process.argv.slice(2) as [string, string, string, string];
// BenchClient needs only where the server is and its token.
const server = { base, token } as ServerProcess;
const clients: BenchClient[] = [];
try {
  for (let i = 0; i < Number(n); i++) clients.push(await BenchClient.open(server));
  await Promise.all(clients.map((c) => c.ready()));
  const start = clients.reduce((sum, c) => sum + c.outputBytes, 0);
  const t0 = performance.now();
  for (const c of clients) c.type(`${command}\r`);
  process.stdout.write(JSON.stringify({ flooding: true }) + '\n');
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
  const bytes = clients.reduce((sum, c) => sum + c.outputBytes, 0) - start;
  process.stdout.write(JSON.stringify({ bytes, ms: performance.now() - t0 }) + '\n');
} finally {
  for (const c of clients) c.close();
}
process.exit(0);
