// Inside-vs-outside mount comparison, computed in the browser from the two live tables so it follows every
// push of the event stream. Mount ids differ between namespaces, so a mount is identified by what it shows:
// target + source + fstype + root. Stacked mounts with the same identity are paired in table order. Same rules
// as GET /api/namespaces/:a/diff/:b, which this mirrors so the view stays live without a request per push.
import type { DiffKind, Mount } from '../../../shared/api.js';

export interface DiffRow {
  /** stable across pushes: which side and that side's mount id */
  key: string;
  kind: DiffKind;
  /** the mount shown: inside's unless the row is only-outside */
  mount: Mount;
  /** for `changed`: the outside mount, and which columns differ */
  outside: Mount | null;
  changes: ('OPTIONS' | 'PROPAGATION')[];
}

const identity = (m: Mount): string => `${m.target}\0${m.source}\0${m.fstype}\0${m.root}`;

function changesBetween(a: Mount, b: Mount): DiffRow['changes'] {
  const out: DiffRow['changes'] = [];
  if (a.options !== b.options || a.superOptions !== b.superOptions) out.push('OPTIONS');
  // The kind, not the group numbers: the same rule as the server's diff (server/mounts/diff.ts).
  if (a.propagation !== b.propagation) out.push('PROPAGATION');
  return out;
}

/**
 * Rows for the Mounts table: what differs first (only-inside, only-outside, changed — each in table order),
 * then the mounts that are the same, so the point of the comparison is at the top.
 */
export function diffMounts(inside: readonly Mount[], outside: readonly Mount[]): DiffRow[] {
  const unmatched = new Map<string, Mount[]>();
  for (const m of outside) {
    const k = identity(m);
    const list = unmatched.get(k);
    if (list) list.push(m);
    else unmatched.set(k, [m]);
  }
  const rows: DiffRow[] = [];
  for (const m of inside) {
    const twin = unmatched.get(identity(m))?.shift();
    if (!twin) {
      rows.push({ key: `i${m.id}`, kind: 'only-inside', mount: m, outside: null, changes: [] });
      continue;
    }
    const changes = changesBetween(m, twin);
    rows.push({ key: `i${m.id}`, kind: changes.length ? 'changed' : 'same', mount: m, outside: twin, changes });
  }
  for (const m of outside) {
    const left = unmatched.get(identity(m));
    if (left?.includes(m)) rows.push({ key: `o${m.id}`, kind: 'only-outside', mount: m, outside: m, changes: [] });
  }
  const rank: Record<DiffKind, number> = { 'only-inside': 0, 'only-outside': 1, changed: 2, same: 3 };
  return rows.sort((a, b) => rank[a.kind] - rank[b.kind]); // stable: table order within each kind
}

/** Both sides are one and the same namespace: every mount is `same`. */
export function sameRows(mounts: readonly Mount[]): DiffRow[] {
  return mounts.map((m) => ({ key: `i${m.id}`, kind: 'same', mount: m, outside: m, changes: [] }));
}
