// Entry point: flags → config → server; prints the URL line; SIGINT/SIGTERM end everything within 5 s.
import { ConfigError, helpText, parseConfig } from './config/config.js';
import { createLogger } from './log.js';
import { startNsconsole } from './nsconsole.js';
import { isLoopbackHost } from './http/tls.js';

/** The contract promises exit within 5 s of SIGTERM; leave headroom for the process to unwind. */
const SHUTDOWN_DEADLINE_MS = 4500;

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`nsconsole: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (parsed.help) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  const log = createLogger();
  if (process.getuid?.() !== 0)
    log.warn('not running as root: host shells work, namespace actions will answer NOT_PRIVILEGED');
  const { config } = parsed;
  let server;
  try {
    server = await startNsconsole(config, log);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`nsconsole: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (!isLoopbackHost(config.host) && config.tlsCert === undefined) {
    // Loud and on stderr: stdout carries only the URL line (the contract).
    process.stderr.write(
      `nsconsole: WARNING: listening on ${config.host} without TLS: root shells and the token travel in clear text to anyone on the network path. Use --tls-cert/--tls-key, or put a TLS proxy in front and bind to 127.0.0.1.\n`,
    );
  }
  process.stdout.write(`nsconsole: ${server.url}\n`);
  // SIGHUP: certificate renewal and log rotation, without a restart.
  process.on('SIGHUP', () => server.reload());

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error('shutdown deadline passed; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

/** listen() failures a user causes and can fix: say what happened in words, not a stack trace. */
function listenFailure(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.syscall !== 'listen') return undefined;
  const where = `${e.address ?? '?'}:${e.port ?? '?'}`;
  if (e.code === 'EADDRINUSE')
    return `port ${e.port} on ${e.address} is already in use: stop the program using it, or start with --port 0 to pick a free port`;
  if (e.code === 'EACCES')
    return `not allowed to listen on ${where} (ports below 1024 need privileges): pick another --port, or --port 0 for a free one`;
  if (e.code === 'EADDRNOTAVAIL') return `${e.address} is not an address of this machine: pick another --host`;
  return undefined;
}

main().catch((err: unknown) => {
  const words = listenFailure(err);
  process.stderr.write(`nsconsole: ${words ?? (err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
