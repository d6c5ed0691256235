// Who owns each listed namespace: its owning user namespace (NS_GET_USERNS) and that one's creator
// (NS_GET_OWNER_UID). A namespace owned by a user namespace other than the server's is untrusted: whoever made
// it controls what runs there, so a shell enters it as that owner (server/terminals/entry.ts), never as root.
import { nsId, nsIdType, type Namespace } from '../../shared/api.js';
import { nsLinkText } from '../proc/ns-links.js';
import { closeFd, NsfsError, openNamespace, ownerFacts } from '../kernel/nsfs.js';
import type { UserNames } from './discovery.js';

export interface OwnerDeps {
  /** the server's own user namespace inode (the initial one for a root server) */
  selfUserInode: number;
  nsfsDev: number;
  users: UserNames;
}

type OwnerFields = Pick<Namespace, 'owner' | 'untrusted'>;

/**
 * Sets `owner` (null when unreadable) and `untrusted` on each row, in place. A namespace's owner never changes,
 * so rows with a process are remembered by id and lowest PID (an inode reused by a new namespace comes with
 * other processes): with 2,000 namespaces the ioctls cost ~57 ms a scan, remembered ~1 ms. Rows held only by
 * an nsfs bind are read each time (a path can be reused at once, and there are few of them).
 */
export class OwnerFacts {
  private known = new Map<string, OwnerFields>();

  constructor(private readonly deps: OwnerDeps) {}

  annotate(rows: Namespace[]): void {
    // A list of some types only (GET ?type=, an entry lookup) keeps what is known about the other types.
    const types = new Set(rows.map((r) => r.type));
    const next = new Map([...this.known].filter(([key]) => !types.has(nsIdType(key))));
    for (const row of rows) {
      const key = row.pid === null ? null : `${row.id}@${row.pid}`;
      const fields = (key !== null ? this.known.get(key) : undefined) ?? readOwner(row, this.deps);
      if (key !== null && fields.owner !== null) next.set(key, fields);
      row.owner = fields.owner ?? null;
      if (fields.untrusted) row.untrusted = fields.untrusted;
    }
    this.known = next;
  }
}

function readOwner(row: Namespace, deps: OwnerDeps): OwnerFields {
  const fd = openRow(row, deps.nsfsDev);
  if (fd === null) return { owner: null };
  try {
    const facts = ownerFacts(fd, row.type);
    if (!facts) return { owner: null }; // the top user namespace: nobody owns it
    const user = deps.users.name(facts.uid);
    const fields: OwnerFields = { owner: { uid: facts.uid, user, userns: nsId('user', facts.usernsInode) } };
    if (facts.usernsInode !== deps.selfUserInode) {
      const via = nsLinkText(nsId('user', facts.usernsInode));
      fields.untrusted = {
        reason:
          row.type === 'user'
            ? `made by ${user} (uid ${facts.uid}) inside ${via}; a shell here is root of this user namespace only`
            : `owned by ${user} (uid ${facts.uid}) through ${via}; a shell here runs in that user namespace with its owner's powers, never as root of this machine`,
      };
    }
    return fields;
  } catch (err) {
    // Swallow: a fact we could not read (the namespace vanished mid-scan); the row is listed without it.
    if (!(err instanceof NsfsError)) throw err;
    return { owner: null };
  } finally {
    closeFd(fd);
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
