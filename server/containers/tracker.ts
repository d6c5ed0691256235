// The machine's containers, found in every namespace scan: the lowest process of each mount namespace says by
// its cgroup which container (if any) it is in, the runtime API adds names, and each Namespace row of the scan
// learns the containers that use it. Rows are annotated in the scan itself, so the live list (rescanned on
// process events) shows a container as soon as its first process runs, and drops it when its last one exits.
import { readFileSync } from 'node:fs';
import { NS_TYPES, type Namespace, type NsType } from '../../shared/api.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { readNsLink } from '../proc/ns-links.js';
import type { Snapshot } from '../namespaces/snapshot.js';
import { containerOfCgroup, shortId, type CgroupContainer, type ContainerRuntime } from './cgroup.js';
import { RuntimeNames, type RuntimeFacts } from './runtime-api.js';

export type { ContainerRuntime };

export interface ContainerInfo {
  id: string;
  name: string;
  runtime: ContainerRuntime;
  /** its lowest process: the container's init (PID 1 inside its PID namespace) */
  pid: number;
  image?: string;
  namespaces: Partial<Record<NsType, string>>;
  compose?: { project: string; service: string };
  pod?: { name?: string; namespace?: string; uid?: string };
}

export interface ContainerTrackerOptions {
  /** the Docker/Podman API socket; a missing one is normal */
  dockerSocket: string;
  log: Logger;
}

export class ContainerTracker {
  private readonly names: RuntimeNames;
  private last: { takenAt: number; containers: ContainerInfo[] } = { takenAt: 0, containers: [] };
  private source: (() => Promise<unknown>) | null = null;
  private refresh: (() => void) | null = null;
  /**
   * `mnt id:pid` → its container, for the processes found in one: a container's init stays in its cgroup, so
   * each scan reads only the cgroups of mount namespaces not known to be a container's (whose processes may be
   * joining one right now, so a "none" is never kept). Entries not seen in a scan are dropped.
   */
  private known = new Map<string, CgroupContainer>();
  /** the same keys → that init's namespaces (8 readlinks a container a scan otherwise; a scan per process event) */
  private namespacesOf = new Map<string, Partial<Record<NsType, string>>>();

  constructor(opts: ContainerTrackerOptions) {
    this.names = new RuntimeNames(opts.dockerSocket, opts.log, () => this.refresh?.());
  }

  /**
   * `scan`: what takes a fresh scan (the engine's list of mount namespaces, which calls annotate); `refresh`:
   * asks the live list for a scan soon (names arrived for containers it shows without them).
   */
  attach(scan: () => Promise<unknown>, refresh?: () => void): void {
    this.source = scan;
    this.refresh = refresh ?? null;
  }

  dispose(): void {
    this.names.dispose();
  }

  /** Finds the containers of a scan and adds `containers` to each of its rows. Never throws for a runtime's sake. */
  async annotate(snap: Snapshot): Promise<void> {
    const found = new Map<string, { where: CgroupContainer; pid: number; key: string }>();
    const known = new Map<string, CgroupContainer>();
    for (const [id, pids] of snap.members) {
      if (!id.startsWith('mnt:')) continue;
      const pid = pids[0] as number;
      const key = `${id}:${pid}`;
      const where = this.known.get(key) ?? containerOf(pid);
      if (!where) continue;
      known.set(key, where);
      const seen = found.get(where.id);
      if (!seen || pid < seen.pid) found.set(where.id, { where, pid, key });
    }
    this.known = known;
    const facts = await this.names.facts([...found.keys()]);
    const containers: ContainerInfo[] = [];
    const namespacesOf = new Map<string, Partial<Record<NsType, string>>>();
    for (const [id, { where, pid, key }] of found) {
      let namespaces = this.namespacesOf.get(key);
      if (!namespaces) {
        namespaces = {};
        for (const type of NS_TYPES) {
          const ns = readNsLink(pid, type);
          if (ns) namespaces[type] = ns;
        }
      }
      if (!namespaces.mnt) continue; // exited meanwhile
      namespacesOf.set(key, namespaces);
      containers.push(describe(id, where, pid, namespaces, facts.get(id)));
    }
    this.namespacesOf = namespacesOf;
    containers.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    const byNs = new Map<string, ContainerInfo[]>();
    for (const c of containers) {
      for (const ns of Object.values(c.namespaces)) {
        const list = byNs.get(ns);
        if (list) list.push(c);
        else byNs.set(ns, [c]);
      }
    }
    for (const row of snap.namespaces) annotateRow(row, byNs);
    if (snap.takenAt >= this.last.takenAt) this.last = { takenAt: snap.takenAt, containers };
  }

  /** The containers running now (a fresh scan). */
  async list(): Promise<ContainerInfo[]> {
    if (this.source) await this.source();
    return this.last.containers;
  }

  /** A running container by full id, name, or unique id prefix; AppError CONTAINER_NOT_FOUND otherwise. */
  async find(ref: string): Promise<ContainerInfo> {
    const all = await this.list();
    const exact = all.find((c) => c.id === ref || c.name === ref);
    if (exact) return exact;
    const byPrefix = /^[0-9a-f]{1,64}$/.test(ref) ? all.filter((c) => c.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0] as ContainerInfo;
    if (byPrefix.length > 1)
      throw new AppError(
        'CONTAINER_NOT_FOUND',
        `${JSON.stringify(ref)} matches ${byPrefix.length} containers; give more of the id`,
      );
    throw new AppError('CONTAINER_NOT_FOUND', `no running container ${JSON.stringify(ref)}`);
  }
}

/** The container `pid` is in now, or null (no container, or the process is gone). */
export function containerOf(pid: number): CgroupContainer | null {
  try {
    return containerOfCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return null; // Swallow: the process exited between the scan and this read; it is in no container now
  }
}

function describe(
  id: string,
  where: CgroupContainer,
  pid: number,
  namespaces: Partial<Record<NsType, string>>,
  facts: RuntimeFacts | undefined,
): ContainerInfo {
  const info: ContainerInfo = { id, name: facts?.name ?? shortId(id), runtime: where.runtime, pid, namespaces };
  if (facts?.image) info.image = facts.image;
  if (facts?.compose) info.compose = facts.compose;
  if (facts?.pod || where.podUid) info.pod = { ...facts?.pod, ...(where.podUid ? { uid: where.podUid } : {}) };
  return info;
}

/**
 * The server's own namespaces (the host's) are not labelled: a container run with `--network host` shares the
 * host's network namespace, which does not make that namespace the container's.
 */
function annotateRow(row: Namespace, byNs: Map<string, ContainerInfo[]>): void {
  const list = row.self ? undefined : byNs.get(row.id);
  row.containers = (list ?? []).map((c) => ({ id: c.id, name: c.name, runtime: c.runtime }));
}
