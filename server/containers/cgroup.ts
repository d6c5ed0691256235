// Which container a process is in, from the text of /proc/PID/cgroup: a pure parser (no I/O).
//
// Runtimes name a container's cgroup after its id, in one of a few layouts:
//   cgroupfs driver        /docker/<id>, /kubepods/burstable/pod<uid>/<id>, /libpod_parent/libpod-<id>, /<ns>/<id>
//   systemd driver         …/docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope,
//                          nerdctl-<id>.scope, under kubepods-…-pod<uid>.slice for Kubernetes pods
// cgroup v2 has one line `0::<path>`; v1 has one line per hierarchy (`N:controllers:<path>`), hybrid both. The
// unified line is read first, then `name=systemd`, then the controllers: the first that names a container wins.
// Within a path the deepest container counts (a container inside a container — Docker in Docker — is the inner
// one). Runtime helpers that live beside a container (Podman's `libpod-conmon-<id>.scope`, CRI-O's
// `crio-conmon-<id>.scope`) are not the container.

export type ContainerRuntime = 'docker' | 'containerd' | 'podman' | 'cri-o' | 'kubernetes';

export interface CgroupContainer {
  /** the full 64-hex id */
  id: string;
  runtime: ContainerRuntime;
  /** the Kubernetes pod's uid (dashes restored) when the path is under kubepods */
  podUid?: string;
  /** the cgroup path it was found in */
  path: string;
}

const ID = '[0-9a-f]{64}';
/** systemd scope (or cgroupfs dir) prefixes → runtime; order matters only for readability (anchored match) */
const SCOPE_PREFIXES: ReadonlyArray<[RegExp, ContainerRuntime]> = [
  [new RegExp(`^docker-(${ID})\\.scope$`), 'docker'],
  [new RegExp(`^cri-containerd-(${ID})\\.scope$`), 'containerd'],
  [new RegExp(`^crio-(${ID})(?:\\.scope)?$`), 'cri-o'],
  [new RegExp(`^libpod-(${ID})(?:\\.scope)?$`), 'podman'],
  [new RegExp(`^nerdctl-(${ID})\\.scope$`), 'containerd'],
];
const BARE_ID = new RegExp(`^(${ID})$`);
/** `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid_with_underscores>.slice` (systemd) */
const POD = /^(?:pod([0-9a-f-]{36})|kubepods(?:-[a-z]+)?-pod([0-9a-f_]{36})\.slice)$/;

/** The container named by one cgroup path, or null. */
export function containerOfPath(path: string): CgroupContainer | null {
  const parts = path.split('/').filter((p) => p.length > 0);
  let found: CgroupContainer | null = null;
  let podUid: string | undefined;
  let underKubepods = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === 'kubepods' || part.startsWith('kubepods.') || part.startsWith('kubepods-')) underKubepods = true;
    const pod = POD.exec(part);
    if (pod) {
      podUid = pod[1] ?? (pod[2] as string).replaceAll('_', '-');
      continue;
    }
    const scoped = matchScope(part);
    if (scoped) {
      found = { id: scoped.id, runtime: scoped.runtime, path };
      continue;
    }
    const bare = BARE_ID.exec(part);
    if (bare) {
      // A bare id: its parent says who made it. /docker/<id> is Docker's cgroupfs driver, and so is an id at the
      // root (older Docker on Debian, or --cgroup-parent=/); under a pod it is the kubelet's cgroupfs layout
      // (runtime unknown from the path); elsewhere (/default/<id>, /k8s.io/<id>) containerd's namespace directory.
      const parent = parts[i - 1];
      const runtime: ContainerRuntime =
        parent === 'docker' || parent === undefined
          ? 'docker'
          : podUid !== undefined || underKubepods
            ? 'kubernetes'
            : 'containerd';
      found = { id: bare[1] as string, runtime, path };
    }
  }
  if (found && podUid !== undefined) found.podUid = podUid;
  return found;
}

function matchScope(part: string): { id: string; runtime: ContainerRuntime } | null {
  for (const [re, runtime] of SCOPE_PREFIXES) {
    const m = re.exec(part);
    if (m) return { id: m[1] as string, runtime };
  }
  return null;
}

/** The container a process is in, from its whole /proc/PID/cgroup text; null when it is in none. */
export function containerOfCgroup(text: string): CgroupContainer | null {
  const unified: string[] = [];
  const systemd: string[] = [];
  const controllers: string[] = [];
  for (const line of text.split('\n')) {
    // `hierarchy-ID:controller-list:cgroup-path`; the path may itself hold colons, so split on the first two.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const hierarchy = line.slice(0, first);
    const list = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (hierarchy === '0' && list === '') unified.push(path);
    else if (list === 'name=systemd') systemd.push(path);
    else controllers.push(path);
  }
  for (const path of [...unified, ...systemd, ...controllers]) {
    const found = containerOfPath(path);
    if (found) return found;
  }
  return null;
}

/** Docker's short form: the first 12 hex digits. */
export const shortId = (id: string): string => id.slice(0, 12);
