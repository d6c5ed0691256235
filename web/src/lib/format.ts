// How namespaces and mounts are written on screen: like readlink, lsns and findmnt write them.
import type { Mount } from '../../../shared/api.js';
import { parseNsId } from '../../../shared/constants.js';

/** `mnt:4026533646` → `mnt:[4026533646]`, as `readlink /proc/PID/ns/mnt` prints it. */
export function readlinkForm(id: string | null | undefined): string {
  if (!id) return 'unknown';
  const p = parseNsId(id);
  return p ? `${p.type}:[${p.inode}]` : id;
}

/** Propagation with its peer and master groups, e.g. `shared:1`, `private`, `slave master:3`. */
export function propagationText(m: Mount): string {
  const parts: string[] = [];
  switch (m.propagation) {
    case 'shared':
      parts.push(m.peerGroup !== undefined ? `shared:${m.peerGroup}` : 'shared');
      break;
    case 'slave':
      parts.push('slave', ...(m.masterGroup !== undefined ? [`master:${m.masterGroup}`] : []));
      break;
    case 'slave,shared':
      parts.push(
        m.peerGroup !== undefined ? `shared:${m.peerGroup}` : 'shared',
        'slave',
        ...(m.masterGroup !== undefined ? [`master:${m.masterGroup}`] : []),
      );
      break;
    default:
      parts.push(m.propagation);
  }
  if (m.propagateFrom !== undefined) parts.push(`propagate_from:${m.propagateFrom}`);
  return parts.join(' ');
}
