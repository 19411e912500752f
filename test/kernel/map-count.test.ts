import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject, packageRoot, u32, u64 } from '../../agent/kernel/index.js';

// What the fill-level metrics read of a map: its entries now and its max_entries (test/bpf/cgroup_allow.bpf.c).
const TEST_OBJ = join(packageRoot(), 'build', 'test-bpf', 'cgroup_allow.bpf.o');

describe('BpfMap fill level', () => {
  let obj: BpfObject;
  beforeAll(() => { obj = BpfObject.load(TEST_OBJ); });
  afterAll(() => obj.close());

  it('counts a hash map\'s entries as they come and go, within its max_entries', () => {
    const map = obj.map('test_hash', u64, u64);
    expect(map.maxEntries).toBe(64);
    expect(map.count()).toBe(0);
    map.updateMany(Array.from({ length: 64 }, (_, i) => [BigInt(i), 1n] as const));
    expect(map.count()).toBe(64);
    map.deleteMany([0n, 1n, 2n]);
    expect(map.count()).toBe(61);
    map.deleteMany(Array.from({ length: 64 }, (_, i) => BigInt(i)));
    expect(map.count()).toBe(0);
  });

  it('counts every slot of an array map', () => {
    const map = obj.map('connects', u32, u64);
    expect([map.count(), map.maxEntries]).toEqual([1, 1]);
  });
});
