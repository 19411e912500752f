import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../agent/kernel/index.js';
import { meshDestination, meshOriginKey } from '../../../agent/kernel/mesh-origin.js';

const v4key = (...bytes: number[]): Buffer => Buffer.concat([Buffer.from(bytes), Buffer.alloc(16 - bytes.length)]);

describe('meshOriginKey', () => {
  it('keys an IPv4 peer, and a v4-mapped one (a dual-stack listener\'s view) alike, as the kernel does', () => {
    const want = { addr: v4key(127, 0, 0, 1), port: 40000, family: 4 };
    expect(meshOriginKey('127.0.0.1', 40000)).toEqual(want);
    expect(meshOriginKey('::ffff:127.0.0.1', 40000)).toEqual(want);
  });

  it('keys an IPv6 peer by its 16 bytes', () => {
    expect(meshOriginKey('::1', 40001)).toEqual({ addr: v4key(...Array<number>(15).fill(0), 1), port: 40001, family: 6 });
    expect(meshOriginKey('fe80::1:2', 1).addr.toString('hex')).toBe('fe800000000000000000000000010002');
  });

  it('refuses what is not an address and port', () => {
    expect(() => meshOriginKey('localhost', 1)).toThrow(KernelError);
    expect(() => meshOriginKey('127.0.0.1', 0)).toThrow(/not a TCP port/);
    expect(() => meshOriginKey('127.0.0.1', 65536)).toThrow(/not a TCP port/);
  });
});

describe('meshDestination', () => {
  const origin = { cookie: 9n, startNs: 123n, cgroupId: 77n, tgid: 4321, srcId: 701, port: 8080 };

  it('writes the original destination as Node would, and the caller as a process key', () => {
    expect(meshDestination({ ...origin, family: 4, addr: v4key(198, 51, 100, 10) })).toEqual({
      family: 4, address: '198.51.100.10', port: 8080, sourceId: 701, process: { tgid: 4321, startNs: 123n }, cgroupId: 77n, cookie: 9n,
    });
    const six = Buffer.alloc(16);
    six.writeUInt16BE(0x2001, 0);
    six.writeUInt16BE(0xdb8, 2);
    six[15] = 0x10;
    expect(meshDestination({ ...origin, family: 6, addr: six }).address).toBe('2001:db8::10');
  });
});
