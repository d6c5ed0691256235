// Parent/child structure of a mount table. mountinfo lists mounts in creation order; a tree gives the order a
// person reads (findmnt's), and lets callers ask "what is mounted below X".
import type { Mount } from '../../shared/api.js';

export interface MountNode {
  mount: Mount;
  children: MountNode[];
}

/**
 * Roots are mounts whose parent is not in the table: the namespace's root mount (its parent id points outside
 * the namespace, or at itself) and, after a chroot-like view, mounts whose parents are hidden.
 */
export function buildMountTree(mounts: readonly Mount[]): MountNode[] {
  const nodes = new Map<number, MountNode>();
  for (const m of mounts) nodes.set(m.id, { mount: m, children: [] });
  const roots: MountNode[] = [];
  for (const m of mounts) {
    const node = nodes.get(m.id) as MountNode;
    const parent = m.parentId !== m.id ? nodes.get(m.parentId) : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}

/** Depth-first, parents before children, siblings in mountinfo order: the order findmnt prints. */
export function treeOrder(mounts: readonly Mount[]): Mount[] {
  const out: Mount[] = [];
  // Iterative: a table of 5,000 nested mounts must not overflow the stack.
  const stack: MountNode[] = [...buildMountTree(mounts)].reverse();
  while (stack.length > 0) {
    const node = stack.pop() as MountNode;
    out.push(node.mount);
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i] as MountNode);
  }
  return out;
}

/** Every mount under (and including) the one with `id`. */
export function subtree(mounts: readonly Mount[], id: number): Mount[] {
  const children = new Map<number, Mount[]>();
  for (const m of mounts) {
    const list = children.get(m.parentId) ?? [];
    list.push(m);
    children.set(m.parentId, list);
  }
  const start = mounts.find((m) => m.id === id);
  if (!start) return [];
  const out: Mount[] = [];
  const queue: Mount[] = [start];
  while (queue.length > 0) {
    const m = queue.shift() as Mount;
    out.push(m);
    for (const c of children.get(m.id) ?? []) if (c.id !== m.id) queue.push(c);
  }
  return out;
}
