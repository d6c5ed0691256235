// "Reset lesson" with --sandbox: the lesson's mounts, files and processes are in the learner's sandbox, so the
// reset acts there (reset.ts ResetPlace): it ends only processes in the sandbox's cgroups, reads the sandbox's
// mount table, and unmounts and deletes by fixed scripts run inside it as its root (nsenter into its init's
// namespaces, counted in its cgroups). The host's files and mounts at the same paths are never touched: the
// server neither unmounts nor deletes anything itself, and the sandbox's root cannot reach the host's.
import type { Sandbox } from '../sandbox/sandbox.js';
import { EMPTY_DIR_SH, UMOUNT_SH } from '../sandbox/scripts.js';
import type { ResetPlace } from './reset.js';

/** Lines `WORD REST` of a script's output, split in two. */
function lines(out: string, word: string): string[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith(`${word} `))
    .map((l) => l.slice(word.length + 1));
}

export function sandboxResetPlace(sb: Sandbox): ResetPlace {
  const pids = new Set(sb.processes());
  return {
    owns: (pid) => pids.has(pid),
    mountinfo: () => sb.mountinfo(),
    async unmount(targets) {
      const out = await sb.run(['/bin/sh', '-c', UMOUNT_SH, 'umount', ...targets], 'unmounting in the sandbox');
      return { done: lines(out, 'umounted'), problems: lines(out, 'failed').map((l) => `umount ${l}`) };
    },
    async empty(dir) {
      const out = await sb.run(['/bin/sh', '-c', EMPTY_DIR_SH, 'empty-dir', dir], 'deleting in the sandbox');
      return { removed: lines(out, 'removed'), problems: lines(out, 'failed').map((l) => `cannot delete ${l}`) };
    },
  };
}
