import { describe, expect, it } from 'vitest';
import { perCpu, structCodec, u32, u64 } from '../../../agent/kernel/codec.js';

describe('u32', () => {
  it('is 4 little-endian bytes, read at an offset', () => {
    expect(u32.size).toBe(4);
    expect([...u32.encode(0xdeadbeef)]).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(u32.decode(Buffer.from([0xff, 0x01, 0x00, 0x00, 0x80]), 1)).toBe(0x80000001);
    expect(u32.decode(u32.encode(4_294_967_295))).toBe(4_294_967_295);
  });
});

describe('u64', () => {
  it('is 8 little-endian bytes holding the full 64 bits, read at an offset', () => {
    expect(u64.size).toBe(8);
    expect([...u64.encode(0x0102030405060708n)]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(u64.decode(u64.encode(2n ** 64n - 1n))).toBe(2n ** 64n - 1n);
    expect(u64.decode(Buffer.concat([Buffer.from([0xaa, 0xbb]), u64.encode(2n ** 53n + 1n)]), 2)).toBe(2n ** 53n + 1n);
  });
});

describe('perCpu', () => {
  it('rounds each CPU\'s slot up to 8 bytes: a u32 on 3 CPUs is 24 bytes', () => {
    const c = perCpu(u32, 3);
    expect(c.size).toBe(24);
    const b = c.encode([1, 2, 0xffffffff]);
    expect(b.length).toBe(24);
    expect([...b]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]);
    expect(c.decode(b)).toEqual([1, 2, 0xffffffff]);
  });

  it('reads slots from an offset, and keeps an 8-byte value\'s slot at 8', () => {
    const c = perCpu(u64, 2);
    expect(c.size).toBe(16);
    const b = Buffer.concat([Buffer.alloc(3, 0x55), c.encode([7n, 2n ** 63n])]);
    expect(c.decode(b, 3)).toEqual([7n, 2n ** 63n]);
  });

  it('decodes a 4-byte value\'s slot by its first 4 bytes, ignoring what the kernel left after', () => {
    const b = Buffer.alloc(24, 0xff);
    b.writeUInt32LE(5, 0);
    b.writeUInt32LE(6, 8);
    b.writeUInt32LE(7, 16);
    expect(perCpu(u32, 3).decode(b)).toEqual([5, 6, 7]);
  });
});

describe('structCodec', () => {
  it('carries a generated encode/decode pair and its size', () => {
    const c = structCodec<number>(12, (v) => Buffer.alloc(12, v), (b, o = 0) => b.readUInt8(o));
    expect(c.size).toBe(12);
    expect(c.decode(c.encode(9), 11)).toBe(9);
    expect(perCpu(c, 2).size).toBe(32);
  });
});
