import { describe, expect, it } from 'vitest';
import { KernelError, cidrKey, meshCidrKey } from '../../../agent/kernel/index.js';

describe('cidrKey', () => {
  it('puts 64 fixed bits (src, port, generation, family) before the CIDR\'s prefix', () => {
    const address = Buffer.from([10, 1, 0, 0]);
    expect(cidrKey({ src: 7, port: 443, generation: 1, family: 4, address, prefixLength: 16 }))
      .toEqual({ prefixlen: 80, src: 7, port: 443, generation: 1, family: 4, addr: address });
    expect(cidrKey({ src: 7, port: 0, generation: 0, family: 6, address: Buffer.alloc(16), prefixLength: 128 }).prefixlen).toBe(192);
  });

  it('refuses an address of the wrong size for its family, or a prefix longer than the address', () => {
    expect(() => cidrKey({ src: 7, port: 0, generation: 0, family: 6, address: Buffer.alloc(4), prefixLength: 8 })).toThrow(KernelError);
    expect(() => cidrKey({ src: 7, port: 0, generation: 0, family: 4, address: Buffer.alloc(4), prefixLength: 33 })).toThrow(/not IPv4/);
  });
});

describe('meshCidrKey', () => {
  it('puts 32 fixed bits (port, family, pad) before the CIDR\'s prefix', () => {
    const address = Buffer.from([198, 51, 100, 0]);
    expect(meshCidrKey({ port: 0, family: 4, address, prefixLength: 24 })).toEqual({ prefixlen: 56, port: 0, family: 4, addr: address });
    expect(meshCidrKey({ port: 443, family: 6, address: Buffer.alloc(16), prefixLength: 32 }).prefixlen).toBe(64);
  });

  it('refuses an address of the wrong size for its family, or a prefix longer than the address', () => {
    expect(() => meshCidrKey({ port: 0, family: 4, address: Buffer.alloc(16), prefixLength: 8 })).toThrow(KernelError);
    expect(() => meshCidrKey({ port: 0, family: 6, address: Buffer.alloc(16), prefixLength: 129 })).toThrow(/not IPv6/);
  });
});
