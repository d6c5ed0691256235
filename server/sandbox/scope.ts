// The namespace engine as seen from inside one sandbox: a layer over the host engine (engine.ts is unchanged).
// In scope: the sandbox's user namespace, every user namespace below it, and every namespace they own. The
// "outside" baseline (`self`) is the sandbox init's namespaces. Anything else does not exist for the caller:
// NS_NOT_FOUND, the same answer as for an id that exists nowhere, so a sandbox cannot even probe for others.
import type {
  CreateNamespaceRequest,
  MountDiff,
  MountTable,
  Namespace,
  NamespaceList,
  NsType,
} from '../../shared/api.js';
import { AppError } from '../errors.js';
import { closeFd, owningUserNs, userNsChain } from '../kernel/nsfs.js';
import type { EngineEvent, NamespaceEngine, NamespaceEntry, WatchHandle } from '../namespaces/engine.js';
import { SandboxListFeed, type SandboxActivity } from './live-list.js';
import type { Sandbox } from './sandbox.js';
import type { MountTableJson } from '../namespaces/mounts-message.js';
import { CREATE_NS_SH, DELETE_NS_SH, SANDBOX_NS_DIR } from './scripts.js';

/** The ids in scope: user namespaces at or below the sandbox's, and every namespace one of them owns. */
export function scopeOf(rows: readonly Namespace[], sandboxUserns: string): Set<string> {
  const users = new Set([sandboxUserns]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows) {
      const parent = r.owner?.userns;
      if (r.type === 'user' && !users.has(r.id) && parent !== undefined && users.has(parent)) {
        users.add(r.id);
        grew = true;
      }
    }
  }
  const ids = new Set<string>(users);
  for (const r of rows)
    if (r.type !== 'user' && r.owner?.userns !== undefined && users.has(r.owner.userns)) ids.add(r.id);
  return ids;
}

/** A row as the sandbox sees it: `self` is the sandbox's own; binds inside the sandbox read as plain paths. */
function asSeenFrom(row: Namespace, sandbox: Sandbox, scope: Set<string>): Namespace {
  const prefix = `[${sandbox.nsIds.get('mnt')}]`;
  const nsfs = row.nsfs
    .filter((p) => scope.has(/^\[([^\]]+)\]/.exec(p)?.[1] ?? ''))
    .map((p) => (p.startsWith(prefix) ? p.slice(prefix.length) : p));
  return { ...row, self: sandbox.nsIds.get(row.type) === row.id, nsfs };
}

/**
 * Namespaces held only by an nsfs bind inside the sandbox (New namespace, the walkthrough's `unshare
 * --mount=FILE`) have no process to read an owner from: each is opened through the bind and its real owner
 * checked. A bind alone proves nothing: the host tree the sandbox sees read-only holds binds of host namespaces.
 */
async function addHeldInside(
  host: NamespaceEngine,
  rows: readonly Namespace[],
  scope: Set<string>,
  sb: Sandbox,
): Promise<void> {
  for (const r of rows) {
    if (scope.has(r.id) || r.owner || !r.nsfs.some((p) => scope.has(/^\[([^\]]+)\]/.exec(p)?.[1] ?? ''))) continue;
    let entry: NamespaceEntry | null = null;
    try {
      entry = await host.entryFor(r.id);
      if (ownedWithin(entry.fd, entry.type, sb)) scope.add(r.id);
    } catch {
      // Swallow: gone or unreachable since the scan: not provably inside, so not listed
    } finally {
      if (entry) closeFd(entry.fd);
    }
  }
}

/** The namespace behind `fd` is owned by the sandbox's user namespace or one below it (a user namespace: is one). */
export function ownedWithin(fd: number, type: NsType, sb: Sandbox): boolean {
  const owner = type === 'user' ? null : owningUserNs(fd);
  try {
    const sbInode = Number(sb.userns.slice(sb.userns.indexOf(':') + 1));
    return userNsChain(owner ?? fd).includes(sbInode);
  } finally {
    if (owner !== null) closeFd(owner);
  }
}

const notFound = (id: string) => new AppError('NS_NOT_FOUND', `no namespace ${id} in this sandbox`);

/**
 * `activity`: the server's router of process events to sandboxes (live-list.ts); without it the live list is
 * the host's, filtered, and follows the host's scans.
 */
export function scopedEngine(
  host: NamespaceEngine,
  sandbox: () => Promise<Sandbox>,
  activity?: SandboxActivity,
  /** keeps the sandbox from going idle while a watch is open (SandboxManager.holdOpen); returns the release */
  holdOpen?: () => () => void,
): NamespaceEngine {
  let lastScope = new Set<string>();
  let current: Sandbox | null = null;
  /** the owner's live list, shared by their /ws/events clients while any is open */
  let feed: SandboxListFeed | null = null;
  const listFeed = (a: SandboxActivity): SandboxListFeed =>
    (feed ??= new SandboxListFeed(
      host,
      sandbox,
      a,
      (rows, sb) => scopeOf(rows, sb.userns),
      (rows, sb, scope) => {
        current = sb;
        lastScope = scope;
        return rows.filter((r) => scope.has(r.id)).map((r) => asSeenFrom(r, sb, scope));
      },
      () => (feed = null),
    ));

  const scoped = async (type?: NsType): Promise<{ sb: Sandbox; rows: Namespace[]; scope: Set<string> }> => {
    const sb = await sandbox();
    current = sb;
    // Always every type: whether a mount namespace is in scope depends on the user namespaces above it.
    const all = await host.list();
    const scope = scopeOf(all.namespaces, sb.userns);
    await addHeldInside(host, all.namespaces, scope, sb);
    lastScope = scope;
    const rows = all.namespaces
      .filter((r) => scope.has(r.id) && (type === undefined || r.type === type))
      .map((r) => asSeenFrom(r, sb, scope));
    return { sb, rows, scope };
  };

  const requireInScope = async (id: string): Promise<{ sb: Sandbox; ns: Namespace }> => {
    const { sb, rows } = await scoped();
    const ns = rows.find((r) => r.id === id);
    if (!ns) throw notFound(id);
    return { sb, ns };
  };

  return {
    async list(type) {
      const { rows } = await scoped(type);
      const list: NamespaceList = { namespaces: rows };
      return list;
    },
    async get(id) {
      return (await requireInScope(id)).ns;
    },
    async mounts(id, page): Promise<MountTable> {
      const { ns } = await requireInScope(id);
      return { ...(await host.mounts(id, page)), namespace: ns };
    },
    async mountsJson(id, page): Promise<MountTableJson> {
      const { ns } = await requireInScope(id);
      return { ...(await host.mountsJson(id, page)), namespace: ns };
    },
    async diff(a, b): Promise<MountDiff> {
      await requireInScope(a);
      await requireInScope(b);
      return host.diff(a, b);
    },
    async create(req: CreateNamespaceRequest): Promise<Namespace> {
      const sb = await sandbox();
      // The walkthrough's steps, done inside the sandbox as its root: a private bind of the ns dir, then
      // `unshare --mount=FILE`. The name was validated by the route (no '/', never '.' or '..').
      let out: string;
      try {
        out = await sb.run(
          ['/bin/sh', '-c', CREATE_NS_SH, 'create-ns', req.name, String(sb.nsCpu)],
          `creating ${req.name}`,
        );
      } catch (err) {
        if (err instanceof AppError && /already exists/.test(err.message))
          throw new AppError('NS_EXISTS', `${SANDBOX_NS_DIR}/${req.name} already exists`);
        throw err;
      }
      const id = `mnt:${out.trim()}`;
      const { rows } = await scoped('mnt');
      return (
        rows.find((r) => r.id === id) ?? {
          id,
          type: 'mnt',
          inode: Number(out.trim()),
          nprocs: 0,
          pid: null,
          user: null,
          command: null,
          nsfs: [`${SANDBOX_NS_DIR}/${req.name}`],
          self: false,
        }
      );
    },
    async remove(id) {
      const { sb, ns } = await requireInScope(id);
      const ours = ns.nsfs.filter(
        (p) => p.startsWith(`${SANDBOX_NS_DIR}/`) && !p.slice(SANDBOX_NS_DIR.length + 1).includes('/'),
      );
      if (ours.length === 0)
        throw new AppError(
          'NS_NOT_OURS',
          `${id} is not persisted under ${SANDBOX_NS_DIR} in this sandbox; nsconsole deletes only namespaces it persisted there`,
        );
      await sb.run(['/bin/sh', '-c', DELETE_NS_SH, 'delete-ns', ...ours], `deleting ${id}`);
    },
    selfId(type) {
      const id = current?.nsIds.get(type);
      if (!id || !lastScope.has(id))
        throw new AppError('NOT_SUPPORTED', `the sandbox has no ${type} namespace of its own`);
      return id;
    },
    async entryFor(id): Promise<NamespaceEntry> {
      await requireInScope(id);
      return host.entryFor(id);
    },
    async nsOfPid(pid, type) {
      return host.nsOfPid(pid, type);
    },
    watch(listener: (e: EngineEvent) => void, ids: string[]): WatchHandle {
      let disposed = false;
      // An open view is someone looking at the sandbox: without this, idle expiry destroyed it under an open page
      // and the view's next list event made a new one at once (and the owner's lessons started over).
      const release = holdOpen?.();
      // The list from the sandbox's own scans (live-list.ts) where the server routes process events to it.
      const unlist = activity ? listFeed(activity).subscribe((e) => !disposed && listener(e)) : null;
      const filtered = (e: EngineEvent) => {
        if (e.type === 'namespaces' && unlist) return;
        if (e.type === 'namespaces') {
          void sandbox()
            .then((sb) => {
              const scope = scopeOf(e.namespaces, sb.userns);
              lastScope = scope;
              if (!disposed)
                listener({
                  ...e,
                  namespaces: e.namespaces.filter((r) => scope.has(r.id)).map((r) => asSeenFrom(r, sb, scope)),
                });
            })
            .catch(() => undefined); // Swallow: no sandbox (being reset); the next list event brings the new one
          return;
        }
        if (lastScope.has(e.id)) listener(e);
      };
      const inner = host.watch(filtered, []);
      const setIds = (wanted: string[]) => {
        void scoped()
          .then(({ scope }) => {
            if (!disposed) inner.setIds(wanted.filter((id) => scope.has(id)));
          })
          .catch(() => undefined); // Swallow: no sandbox right now; nothing of it can be watched
      };
      setIds(ids);
      return {
        setIds,
        dispose() {
          disposed = true;
          release?.();
          unlist?.();
          inner.dispose();
        },
      };
    },
    dispose() {
      // The host engine belongs to the server; nothing of our own to release.
    },
  };
}
