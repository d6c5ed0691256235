// Who owns each listed namespace: its owning user namespace (NS_GET_USERNS) and that one's creator
// (NS_GET_OWNER_UID). A namespace owned by a user namespace other than the server's is untrusted: whoever made
// it controls what runs there, so a shell enters it as that owner (server/terminals/entry.ts), never as root.
import type { Namespace } from '../../shared/api.js';
import { closeFd, NsfsError, openNamespace, ownerFacts } from '../kernel/nsfs.js';
import type { UserNames } from './discovery.js';

export interface OwnerDeps {
  /** the server's own user namespace inode (the initial one for a root server) */
  selfUserInode: number;
  nsfsDev: number;
  users: UserNames;
}

/** Sets `owner` (null when unreadable) and `untrusted` on each row, in place. */
export function annotateOwners(rows: Namespace[], deps: OwnerDeps): void {
  for (const row of rows) {
    const fd = openRow(row, deps.nsfsDev);
    if (fd === null) {
      row.owner = null;
      continue;
    }
    try {
      const facts = ownerFacts(fd, row.type);
      if (!facts) {
        row.owner = null; // the top user namespace: nobody owns it
        continue;
      }
      const user = deps.users.name(facts.uid);
      const userns = `user:${facts.usernsInode}`;
      row.owner = { uid: facts.uid, user, userns };
      if (facts.usernsInode !== deps.selfUserInode) {
        const via = `user:[${facts.usernsInode}]`;
        row.untrusted = {
          reason:
            row.type === 'user'
              ? `made by ${user} (uid ${facts.uid}) inside ${via}; a shell here is root of this user namespace only`
              : `owned by ${user} (uid ${facts.uid}) through ${via}; a shell here runs in that user namespace with its owner's powers, never as root of this machine`,
        };
      }
    } catch (err) {
      // Swallow: a fact we could not read (the namespace vanished mid-scan); the row is listed without it.
      if (!(err instanceof NsfsError)) throw err;
      row.owner = null;
    } finally {
      closeFd(fd);
    }
  }
}

/** An fd on the row's namespace: through its lowest process, else its persisted path in our mount namespace. */
function openRow(row: Namespace, dev: number): number | null {
  const ways: [string, boolean][] = [];
  if (row.pid !== null) ways.push([`/proc/${row.pid}/ns/${row.type}`, true]);
  for (const path of row.nsfs) if (path.startsWith('/')) ways.push([path, false]);
  for (const [path, follow] of ways) {
    try {
      const fd = openNamespace(path, row.type, row.inode, { follow, dev });
      if (fd !== null) return fd;
    } catch {
      // Swallow: exited or unmounted since the scan; the next way is tried, and none means "owner unknown".
    }
  }
  return null;
}
