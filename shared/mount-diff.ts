// Diff of two mount tables, used by the server (`GET /api/namespaces/:a/diff/:b`) and by the browser (the live
// inside-vs-outside Mounts table, recomputed on every push of the event stream). Mount ids are per namespace (a
// copied namespace renumbers everything), so mounts are matched by identity: where (target), what (source,
// fstype) and which part of it (root). Stacked mounts with the same identity (the same tmpfs mounted twice on
// one point) are paired in table order: the k-th in A with the k-th in B.
import type { DiffKind, Mount, MountDiff } from './api.js';

export function mountIdentity(m: Mount): string {
  // NUL cannot occur in any of these fields, so the key is unambiguous.
  return [m.target, m.source, m.fstype, m.root].join('\0');
}

export type MountChange = 'OPTIONS' | 'PROPAGATION';

/** Same identity, but what a person would care about differs: options, or the propagation kind (not group numbers). */
export function mountChanges(a: Mount, b: Mount): MountChange[] {
  const out: MountChange[] = [];
  if (a.options !== b.options || a.superOptions !== b.superOptions) out.push('OPTIONS');
  if (a.propagation !== b.propagation) out.push('PROPAGATION');
  return out;
}

interface Pairing {
  /** every mount of A in A's order, with its twin in B or null */
  inA: { a: Mount; b: Mount | null }[];
  /** mounts of B with no twin in A, in B's order */
  onlyB: Mount[];
}

function pairMounts(a: readonly Mount[], b: readonly Mount[]): Pairing {
  const unmatched = new Map<string, Mount[]>();
  for (const m of b) {
    const key = mountIdentity(m);
    const list = unmatched.get(key);
    if (list) list.push(m);
    else unmatched.set(key, [m]);
  }
  const matched = new Set<Mount>();
  const inA = a.map((m) => {
    const twin = unmatched.get(mountIdentity(m))?.shift() ?? null;
    if (twin) matched.add(twin);
    return { a: m, b: twin };
  });
  return { inA, onlyB: b.filter((m) => !matched.has(m)) };
}

/** The API's diff: onlyA / onlyB keep each table's own order; `changed` follows A's order. */
export function diffMounts(a: readonly Mount[], b: readonly Mount[]): MountDiff {
  const { inA, onlyB } = pairMounts(a, b);
  const onlyA: Mount[] = [];
  const changed: { a: Mount; b: Mount }[] = [];
  for (const p of inA) {
    if (!p.b) onlyA.push(p.a);
    else if (mountChanges(p.a, p.b).length) changed.push({ a: p.a, b: p.b });
  }
  return { onlyA, onlyB, changed };
}

/** One row of the browser's Mounts table. */
export interface DiffRow {
  /** stable across pushes: which side and that side's mount id */
  key: string;
  kind: DiffKind;
  /** the mount shown: inside's unless the row is only-outside */
  mount: Mount;
  /** for `changed`: the outside mount, and which columns differ */
  outside: Mount | null;
  changes: MountChange[];
}

const RANK: Record<DiffKind, number> = { 'only-inside': 0, 'only-outside': 1, changed: 2, same: 3 };

/**
 * Rows for the Mounts table: what differs first (only-inside, only-outside, changed — each in table order),
 * then the mounts that are the same, so the point of the comparison is at the top.
 */
export function diffRows(inside: readonly Mount[], outside: readonly Mount[]): DiffRow[] {
  const { inA, onlyB } = pairMounts(inside, outside);
  const rows: DiffRow[] = inA.map(({ a, b }) => {
    if (!b) return { key: `i${a.id}`, kind: 'only-inside', mount: a, outside: null, changes: [] };
    const changes = mountChanges(a, b);
    return { key: `i${a.id}`, kind: changes.length ? 'changed' : 'same', mount: a, outside: b, changes };
  });
  for (const m of onlyB) rows.push({ key: `o${m.id}`, kind: 'only-outside', mount: m, outside: m, changes: [] });
  return rows.sort((x, y) => RANK[x.kind] - RANK[y.kind]); // stable: table order within each kind
}

/** Both sides are one and the same namespace: every mount is `same`. */
export function sameRows(mounts: readonly Mount[]): DiffRow[] {
  return mounts.map((m) => ({ key: `i${m.id}`, kind: 'same', mount: m, outside: m, changes: [] }));
}
