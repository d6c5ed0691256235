// `--audit-log FILE`: one JSON object a line, `{ time, user, ip, action, … }`. A line is written (write(2) on an
// O_APPEND descriptor, so in the kernel's page cache and seen by any reader) before the action's answer is
// sent; fsync on a short interval bounds what a power cut can lose without an fsync per request. SIGHUP
// reopens the file (log rotation: rename, then SIGHUP; no line is lost, the old descriptor is fsync'd first).
//
// Not pino: pino's asynchronous destination buffers, so a line would not be written before the answer; its
// synchronous one is exactly the writeSync below, plus a reopen whose ordering we would not control.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { Logger } from '../log.js';

export type AuditAction =
  | 'auth.fail'
  | 'auth.untrusted_header'
  | 'session.create'
  | 'session.attach'
  | 'session.end'
  | 'share.create'
  | 'share.open'
  | 'namespace.create'
  | 'namespace.delete';

export interface AuditEvent {
  /** null: nobody authenticated (auth.fail, a share-link viewer) */
  user: string | null;
  ip: string;
  action: AuditAction;
  [detail: string]: unknown;
}

export interface Audit {
  record(event: AuditEvent): void;
  /** SIGHUP: fsync and close the current file, open FILE again (a new one after rotation) */
  reopen(): void;
  close(): void;
}

/** At most this much of the log is lost if the machine loses power; an fsync a second costs nothing. */
export const AUDIT_FSYNC_INTERVAL_MS = 1000;
const FILE_MODE = 0o600; // who did what, from where: for the operator only

/** No `--audit-log`: records nothing. */
export const NO_AUDIT: Audit = { record() {}, reopen() {}, close() {} };

export function openAudit(file: string, log: Logger, opts: { fsyncMs?: number } = {}): Audit {
  let fd = openSync(file, 'a', FILE_MODE);
  let dirty = false;
  let closed = false;
  const sync = () => {
    if (!dirty) return;
    dirty = false;
    try {
      fsyncSync(fd);
    } catch (err) {
      // Logged only: the lines are written (page cache); a failing fsync is the disk's problem to report.
      log.error({ err, file }, 'audit log fsync failed');
    }
  };
  const timer = setInterval(sync, opts.fsyncMs ?? AUDIT_FSYNC_INTERVAL_MS);
  timer.unref();
  return {
    record(event) {
      if (closed) return;
      const { user, ip, action, ...detail } = event;
      const line = JSON.stringify({ time: new Date().toISOString(), user, ip, action, ...detail }) + '\n';
      try {
        writeSync(fd, line);
        dirty = true;
      } catch (err) {
        // Logged, not thrown: a full disk must not turn every request into a 500. The log on stderr keeps the line.
        log.error({ err, file, audit: JSON.parse(line) as unknown }, 'audit log write failed');
      }
    },
    reopen() {
      if (closed) return;
      let next: number;
      try {
        next = openSync(file, 'a', FILE_MODE);
      } catch (err) {
        // Kept writing to the old file: better a rotated file that grows than lost lines.
        log.error({ err, file }, 'audit log reopen failed; still writing to the previous file');
        return;
      }
      dirty = true;
      sync();
      closeSync(fd);
      fd = next;
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      dirty = true;
      sync();
      closeSync(fd);
    },
  };
}
