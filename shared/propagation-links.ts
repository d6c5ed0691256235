// Which mounts a mount exchanges mount events with, across the two tables the browser shows (inside and
// outside): the peer groups and master relations that /proc/PID/mountinfo only gives as numbers
// (`shared:3`, `master:3`), resolved to the mounts they are — "the thing learners find hardest" (issue #9).
import type { Mount } from './api.js';

export type Side = 'inside' | 'outside';

/**
 * `peer`: same peer group, so mounts and umounts go both ways; `from`: this mount is a slave of the other's
 * peer group, so it receives (only); `to`: the other is a slave of this mount's peer group.
 */
export type LinkKind = 'peer' | 'from' | 'to';

export interface PropagationLink {
  kind: LinkKind;
  side: Side;
  target: string;
  group: number;
}

interface Member {
  side: Side;
  mount: Mount;
}

/** Mounts by peer group and by master group, over one or two tables. */
export interface LinkIndex {
  peers: Map<number, Member[]>;
  slaves: Map<number, Member[]>;
}

/** `outside` null: one and the same namespace (its links are within it, all on the inside side). */
export function linkIndex(inside: readonly Mount[], outside: readonly Mount[] | null): LinkIndex {
  const index: LinkIndex = { peers: new Map(), slaves: new Map() };
  const add = (map: Map<number, Member[]>, group: number, m: Member) => {
    const list = map.get(group);
    if (list) list.push(m);
    else map.set(group, [m]);
  };
  const sides: [Side, readonly Mount[]][] = outside
    ? [
        ['inside', inside],
        ['outside', outside],
      ]
    : [['inside', inside]];
  for (const [side, mounts] of sides) {
    for (const mount of mounts) {
      if (mount.peerGroup !== undefined) add(index.peers, mount.peerGroup, { side, mount });
      if (mount.masterGroup !== undefined) add(index.slaves, mount.masterGroup, { side, mount });
    }
  }
  return index;
}

/**
 * What `mount` (on `side`) propagates with: mounts on the other side first (the point of comparing two
 * namespaces), then peers before where it receives from before where it sends to, each in table order.
 */
export function linksOf(index: LinkIndex, mount: Mount, side: Side): PropagationLink[] {
  const out: PropagationLink[] = [];
  const push = (kind: LinkKind, group: number, members: readonly Member[] | undefined) => {
    for (const m of members ?? []) {
      if (m.side === side && m.mount.id === mount.id) continue;
      out.push({ kind, side: m.side, target: m.mount.target, group });
    }
  };
  if (mount.peerGroup !== undefined) push('peer', mount.peerGroup, index.peers.get(mount.peerGroup));
  if (mount.masterGroup !== undefined) push('from', mount.masterGroup, index.peers.get(mount.masterGroup));
  if (mount.peerGroup !== undefined) push('to', mount.peerGroup, index.slaves.get(mount.peerGroup));
  const across = out.filter((l) => l.side !== side);
  return across.length === 0 || across.length === out.length ? out : [...across, ...out.filter((l) => l.side === side)];
}

const ARROW: Record<LinkKind, string> = { peer: '⇄', from: '←', to: '→' };
const WORD: Record<LinkKind, string> = { peer: 'peer of', from: 'receives from', to: 'sends to' };

/** `⇄ outside /mnt` — short, for a cell; `sides`: say which side (false when both tables are one namespace). */
export function linkText(l: PropagationLink, sides: boolean): string {
  return `${ARROW[l.kind]} ${sides ? `${l.side} ` : ''}${l.target}`;
}

/** `peer of outside /mnt (shared:3)` — the long form, for a tooltip. */
export function linkSentence(l: PropagationLink, sides: boolean): string {
  const group = l.kind === 'from' ? `master:${l.group}` : `shared:${l.group}`;
  return `${WORD[l.kind]} ${sides ? `${l.side} ` : ''}${l.target} (${group})`;
}
