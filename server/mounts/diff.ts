// Diff of two mount tables. Mount ids are per namespace (a copied namespace renumbers everything), so mounts
// are matched by identity: where (target), what (source, fstype) and which part of it (root).
import type { Mount, MountDiff } from '../../shared/api.js';

export function mountIdentity(m: Mount): string {
  // NUL cannot occur in any of these fields, so the key is unambiguous.
  return [m.target, m.source, m.fstype, m.root].join('\0');
}

/** Same identity, but something a person would care about differs: options or propagation. */
export function mountChanged(a: Mount, b: Mount): boolean {
  return a.options !== b.options || a.superOptions !== b.superOptions || a.propagation !== b.propagation;
}

/**
 * onlyA / onlyB keep each table's own order; `changed` follows A's order. Stacked mounts with the same
 * identity (mounting the same tmpfs twice on one point) are matched in order: the k-th in A with the k-th in B.
 */
export function diffMounts(a: readonly Mount[], b: readonly Mount[]): MountDiff {
  const pendingB = new Map<string, Mount[]>();
  for (const m of b) {
    const key = mountIdentity(m);
    const list = pendingB.get(key);
    if (list) list.push(m);
    else pendingB.set(key, [m]);
  }
  const onlyA: Mount[] = [];
  const changed: { a: Mount; b: Mount }[] = [];
  const matchedB = new Set<Mount>();
  for (const m of a) {
    const candidates = pendingB.get(mountIdentity(m));
    const other = candidates?.shift();
    if (!other) {
      onlyA.push(m);
      continue;
    }
    matchedB.add(other);
    if (mountChanged(m, other)) changed.push({ a: m, b: other });
  }
  const onlyB = b.filter((m) => !matchedB.has(m));
  return { onlyA, onlyB, changed };
}
