import { describe, expect, it } from 'vitest';
import type { Mount } from '../../../shared/api.js';
import { propagationText, readlinkForm } from './format.js';

const mount = (over: Partial<Mount>): Mount => ({
  id: 1,
  parentId: 0,
  target: '/',
  source: 's',
  fstype: 'tmpfs',
  options: 'rw',
  superOptions: 'rw',
  root: '/',
  propagation: 'private',
  ...over,
});

describe('readlinkForm', () => {
  it('writes an id the way readlink /proc/PID/ns/X does', () => {
    expect(readlinkForm('mnt:4026533646')).toBe('mnt:[4026533646]');
  });
  it('says unknown for nothing and leaves what is not an id alone', () => {
    expect(readlinkForm(null)).toBe('unknown');
    expect(readlinkForm(undefined)).toBe('unknown');
    expect(readlinkForm('weird')).toBe('weird');
  });
});

describe('propagationText', () => {
  it('writes propagation like findmnt -o PROPAGATION with the groups of /proc/PID/mountinfo', () => {
    expect(propagationText(mount({}))).toBe('private');
    expect(propagationText(mount({ propagation: 'shared', peerGroup: 1 }))).toBe('shared:1');
    expect(propagationText(mount({ propagation: 'shared' }))).toBe('shared');
    expect(propagationText(mount({ propagation: 'slave', masterGroup: 3 }))).toBe('slave master:3');
    expect(propagationText(mount({ propagation: 'slave,shared', peerGroup: 2, masterGroup: 3 }))).toBe(
      'shared:2 slave master:3',
    );
    expect(propagationText(mount({ propagation: 'slave', masterGroup: 3, propagateFrom: 4 }))).toBe(
      'slave master:3 propagate_from:4',
    );
  });
});
