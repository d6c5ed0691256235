// A check in words, for the lesson panel ("what will make this step pass").
import type { Check, MountRef, Ref } from './schema.js';

/** Workspace paths in words: ${WORK} itself, …/rest below it, anything else as is. */
export function shortener(work: string): (p: string) => string {
  return (p) => (p === work ? '${WORK}' : p.startsWith(work + '/') ? '…/' + p.slice(work.length + 1) : p);
}

function where(ref: Ref, short: (p: string) => string): string {
  if (ref === 'outside') return 'outside';
  if (ref === 'inside') return 'inside';
  if (ref === 'outside-pane') return "in the Outside pane's namespace";
  return `in the namespace persisted at ${short(ref)}`;
}

function mref(m: MountRef, short: (p: string) => string): string {
  return `${short(m.mount)} ${where(m.in, short)}`;
}

export function describeCheck(c: Check, short: (p: string) => string): string {
  switch (c.kind) {
    case 'mount': {
      if (!c.exists) return `${short(c.mount)} is not a${c.fstype ? ' ' + c.fstype : ''} mount point ${where(c.in, short)}`;
      const what = [c.propagation, c.fstype].filter(Boolean).join(' ');
      let s = `${short(c.mount)} is a ${what ? what + ' ' : ''}mount point ${where(c.in, short)}`;
      if (c.source) s += ` from ${c.source}`;
      if (c['also-in']) s += ` and ${where(c['also-in'], short)}`;
      if (c['not-in']) s += `, but not ${where(c['not-in'], short)}`;
      return s;
    }
    case 'persisted':
      if (!c.exists) return `no namespace is persisted at ${short(c.persisted)}`;
      return `a ${c.type ? c.type + ' ' : ''}namespace is persisted at ${short(c.persisted)}${c.nprocs !== undefined ? ` with ${c.nprocs} process${c.nprocs === 1 ? '' : 'es'} (NPROCS ${c.nprocs})` : ''}`;
    case 'pane': {
      const parts: string[] = [];
      if (c['same-as']) parts.push(`is the ${c.type} namespace ${c['same-as'] === 'outside' ? 'of the server' : where(c['same-as'], short).replace(/^in /, '')}`);
      if (c['differs-from']) parts.push(`is not the ${c.type} namespace ${c['differs-from'] === 'outside' ? 'of the server' : where(c['differs-from'], short).replace(/^in /, '')}`);
      return `the ${c.pane === 'inside' ? 'Inside' : 'Outside'} pane's foreground process ${parts.join(' and ')}`;
    }
    case 'file':
      return `${short(c.file)} ${c.exists ? 'exists' : 'does not exist'} ${where(c.in, short)}${c.is && c.exists ? ` (a ${c.is})` : ''}`;
    case 'peers':
      return `${mref(c.peers[0], short)} and ${mref(c.peers[1], short)} are peers (same peer group)`;
    case 'not-peers':
      return `${mref(c['not-peers'][0], short)} and ${mref(c['not-peers'][1], short)} are not peers`;
    case 'master':
      return `${mref(c.slave, short)} is a slave of ${mref(c.master, short)}`;
  }
}
