import { describe, expect, it } from 'vitest';
import type { NetworkInterfaceInfo } from 'node:os';
import { isLoopbackHost, reachableHost } from '../../server/http/tls.js';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as NetworkInterfaceInfo;

describe('the printed URL names a reachable address', () => {
  it('keeps a concrete bind address', () => {
    expect(reachableHost('10.1.2.3', {}, 'box')).toBe('10.1.2.3');
    expect(reachableHost('127.0.0.1', {}, 'box')).toBe('127.0.0.1');
  });
  it('replaces a wildcard with the first non-loopback interface address, else the hostname', () => {
    const ifs = {
      lo: [iface('127.0.0.1', 'IPv4', true)],
      eth0: [iface('fe80::1', 'IPv6'), iface('192.168.5.7', 'IPv4')],
    };
    expect(reachableHost('0.0.0.0', ifs, 'box')).toBe('192.168.5.7');
    expect(reachableHost('::', { lo: ifs.lo, eth0: [iface('2001:db8::7', 'IPv6')] }, 'box')).toBe('2001:db8::7');
    expect(reachableHost('0.0.0.0', { lo: ifs.lo }, 'box.example')).toBe('box.example');
  });
  it('knows loopback', () => {
    expect(['127.0.0.1', '127.3.0.1', '::1', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1'].some(isLoopbackHost)).toBe(false);
  });
});
