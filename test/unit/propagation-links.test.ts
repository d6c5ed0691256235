// PEERS column: peer groups and masters resolved to the mounts they are, from mountinfo lines (the e2e lesson
// test shows it against the kernel: `unshare --propagation unchanged` makes the two copies peers).
import { describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../server/mounts/mountinfo.js';
import { linkIndex, linksOf, linkSentence, linkText } from '../../shared/propagation-links.js';

// Outside: /srv shared:7, /data shared:9. Inside: its copy of /srv (shared:7, a peer), a slave of /data's
// group (master:9), and a private mount.
const outside = parseMountinfo(
  [
    '21 1 0:40 / /srv rw shared:7 - tmpfs a rw',
    '22 1 0:41 / /data rw shared:9 - tmpfs b rw',
    '23 1 0:42 / /tmp rw - tmpfs c rw',
  ].join('\n'),
);
const inside = parseMountinfo(
  [
    '31 30 0:40 / /srv rw shared:7 - tmpfs a rw',
    '32 30 0:41 / /data rw master:9 - tmpfs b rw',
    '33 30 0:42 / /tmp rw - tmpfs c rw',
  ].join('\n'),
);

describe('propagation links', () => {
  const index = linkIndex(inside, outside);
  const at = (mounts: typeof inside, target: string) => mounts.find((m) => m.target === target)!;

  it('a copy that joined the peer group is a peer on the other side, both ways', () => {
    expect(linksOf(index, at(inside, '/srv'), 'inside')).toEqual([
      { kind: 'peer', side: 'outside', target: '/srv', group: 7 },
    ]);
    expect(linksOf(index, at(outside, '/srv'), 'outside')).toEqual([
      { kind: 'peer', side: 'inside', target: '/srv', group: 7 },
    ]);
  });

  it('a slave receives from its master group, which sends to it', () => {
    const from = linksOf(index, at(inside, '/data'), 'inside');
    expect(from).toEqual([{ kind: 'from', side: 'outside', target: '/data', group: 9 }]);
    expect(linkText(from[0]!, true)).toBe('← outside /data');
    expect(linkSentence(from[0]!, true)).toBe('receives from outside /data (master:9)');
    expect(linksOf(index, at(outside, '/data'), 'outside')).toEqual([
      { kind: 'to', side: 'inside', target: '/data', group: 9 },
    ]);
  });

  it('a private mount propagates with nothing', () => {
    expect(linksOf(index, at(inside, '/tmp'), 'inside')).toEqual([]);
  });

  it('within one namespace, bind copies of a shared mount are peers, and a mount is never its own', () => {
    const one = parseMountinfo(
      ['41 1 0:40 / /srv rw shared:7 - tmpfs a rw', '42 1 0:40 / /mnt/srv rw shared:7 - tmpfs a rw'].join('\n'),
    );
    const links = linksOf(linkIndex(one, null), one[0]!, 'inside');
    expect(links).toEqual([{ kind: 'peer', side: 'inside', target: '/mnt/srv', group: 7 }]);
    expect(linkText(links[0]!, false)).toBe('⇄ /mnt/srv');
  });
});
