import { readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nsId, nsIdInode, nsIdType, parseNsId } from '../../shared/api.js';
import { nsIdOfLink, nsLinkText, parseNsLink, readNsLink, readNsLinkInode } from '../../server/proc/ns-links.js';
import { listPids, MAX_PID_ATTEMPTS } from '../../server/proc/pids.js';

describe('namespace links and ids (server/proc/ns-links.ts, shared/constants.ts)', () => {
  it('parses the link text and turns it into an id and back', () => {
    expect(parseNsLink('mnt:[4026531841]')).toEqual({ type: 'mnt', inode: '4026531841' });
    expect(parseNsLink('pid_for_children:[4026531836]')).toEqual({ type: 'pid_for_children', inode: '4026531836' });
    for (const bad of ['', 'mnt:4026531841', 'mnt:[]', 'mnt:[12x]', '/dev/sda1', 'mnt:[1] '])
      expect(parseNsLink(bad)).toBeNull();
    expect(nsIdOfLink('mnt:[4026531841]')).toBe('mnt:4026531841');
    expect(nsLinkText('mnt:4026531841')).toBe('mnt:[4026531841]');
    const id = nsId('user', 4026531837);
    expect([nsIdType(id), nsIdInode(id)]).toEqual(['user', '4026531837']);
    expect(parseNsId(id)).toEqual({ type: 'user', inode: '4026531837' });
  });

  it('reads our own links as the kernel prints them, and null for a process that does not exist', () => {
    const text = readlinkSync('/proc/self/ns/mnt');
    expect(readNsLink('self', 'mnt')).toBe(nsIdOfLink(text));
    expect(readNsLink(process.pid, 'mnt')).toBe(nsIdOfLink(text));
    expect(readNsLinkInode('self', 'mnt')).toBe(parseNsLink(text)?.inode);
    // above PID_MAX_LIMIT (4194304): never a process
    expect(readNsLink(4_194_305, 'mnt')).toBeNull();
  });

  it('lists processes in ascending order, ours among them', () => {
    const pids = listPids();
    expect(pids).toContain(process.pid);
    expect(pids.every((p, i) => i === 0 || (pids[i - 1] as number) < p)).toBe(true);
    expect(MAX_PID_ATTEMPTS).toBeGreaterThan(0);
  });
});
