// One side of the watch-CPU figure, in a process of its own: the engine as the server builds it, either
// watching two namespaces and the list ("watch") or created and left alone ("idle"). Both sides start the same
// way and settle the same time, so V8's own work after start-up (~1% of a CPU for 10–20 s here, in any Node
// process that loads a few MB of modules) is in both and cancels out. Prints {"cpuMs":…,"wallMs":…}.
// Usage: node watch-cpu-child.js watch|idle SETTLE_MS WINDOW_MS NS_DIR [ID ID]
import { createLogger } from '../../server/log.js';
import { createNamespaceEngine } from '../../server/namespaces/engine.js';

const [mode, settle, windowMs, nsDir, ...ids] = process.argv.slice(2);
const engine = createNamespaceEngine({ nsDir: nsDir as string, log: createLogger('silent') });
const handle = mode === 'watch' ? engine.watch(() => undefined, ids) : null;
await new Promise((r) => setTimeout(r, Number(settle)));
const c0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, Number(windowMs)));
const c = process.cpuUsage(c0);
const wallMs = performance.now() - t0;
handle?.dispose();
engine.dispose();
process.stdout.write(JSON.stringify({ cpuMs: (c.user + c.system) / 1000, wallMs }) + '\n');
