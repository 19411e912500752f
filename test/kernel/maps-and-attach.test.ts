import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject, KernelError, ensureBpffs, packageRoot, u32, u64, uninstall } from '../../agent/kernel/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited } from '../support/wait.js';

// test/bpf/cgroup_allow.bpf.c: maps to fill, a sockops program (it cannot deny) and a classic
// tracepoint program; cgroup attaches go to a child cgroup, never the v2 root.
const TEST_OBJ = join(packageRoot(), 'build', 'test-bpf', 'cgroup_allow.bpf.o');
const PINNED_OBJ = join(packageRoot(), 'build', 'test-bpf', 'pinned.bpf.o');

describe('objects: what they hold, and maps pinned by name', () => {
  it('lists programs with their sections and maps with their sizes', () => {
    const obj = BpfObject.load(TEST_OBJ);
    try {
      expect(obj.programs().map((p) => [p.name, p.section])).toEqual(expect.arrayContaining([
        ['allow_connect4', 'cgroup/connect4'], ['count_sockops', 'sockops'], ['tp_exec', 'tp/sched/sched_process_exec'],
      ]));
      expect(obj.maps().find((m) => m.name === 'test_hash')).toMatchObject({ keySize: 8, valueSize: 8, maxEntries: 64 });
    } finally {
      obj.close();
    }
  });

  it('pins a LIBBPF_PIN_BY_NAME map under the pin root, and a second load shares it', () => {
    const root = `/sys/fs/bpf/tether-test-pinroot-${process.pid}`;
    ensureBpffs(root);
    const first = BpfObject.load(PINNED_OBJ, { pinRoot: root });
    try {
      expect(existsSync(join(root, 'shared_state'))).toBe(true);
      first.map('shared_state', u32, u64).update(0, 99n);
      const second = BpfObject.load(PINNED_OBJ, { pinRoot: root });
      try {
        expect(second.map('shared_state', u32, u64).lookup(0)).toBe(99n);
      } finally {
        second.close();
      }
    } finally {
      first.close();
      uninstall(root);
    }
  });

  it('refuses to load it with no pin root rather than pin at the top of /sys/fs/bpf', () => {
    let err: unknown;
    try { BpfObject.load(PINNED_OBJ); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toBe('BPF_OPEN');
    expect((err as KernelError).message).toContain("map 'shared_state'");
    expect(existsSync('/sys/fs/bpf/shared_state')).toBe(false);
  });
});

describe('maps: batch operations and iteration', () => {
  let obj: BpfObject;
  beforeAll(() => { obj = BpfObject.load(TEST_OBJ); });
  afterAll(() => obj.close());

  it('writes, reads and deletes many hash entries in batches', () => {
    const map = obj.map('test_hash', u64, u64);
    const entries = Array.from({ length: 60 }, (_, i) => [BigInt(i + 1), BigInt((i + 1) * 10)] as const);
    map.updateMany(entries);
    const all = map.entries().sort(([a], [b]) => Number(a - b));
    expect(all).toEqual(entries.map(([k, v]) => [k, v]));
    expect([...map.keys()]).toHaveLength(60);
    // 1000 is absent: the kernel's batch stops there; the keys after it are still deleted
    expect(map.deleteMany([1n, 2n, 1000n, 3n, 4n])).toBe(4);
    expect(map.lookup(3n)).toBeUndefined();
    expect(map.entries()).toHaveLength(56);
    expect(map.deleteMany(map.entries().map(([k]) => k))).toBe(56);
    expect([...map.keys()]).toEqual([]);
  });

  it('reads an array map whole', () => {
    expect(obj.map('connects', u32, u64).entries()).toEqual([[0, 0n]]);
  });
});

describe('attaching: sockops and a classic tracepoint', () => {
  let cg: TestCgroup;
  beforeAll(() => { cg = TestCgroup.create('tether-kt-attach'); });
  afterAll(async () => { await cg.destroy(); });

  it('a sockops program on a child cgroup sees that cgroup\'s TCP connections only', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const obj = BpfObject.load(TEST_OBJ);
    const link = obj.attachCgroup('count_sockops', cg.path);
    try {
      const seen = obj.map('sockops_seen', u32, u64);
      const client = cg.spawn(['/usr/bin/python3', '-c', `import socket; socket.create_connection(("127.0.0.1", ${port})).close()`]);
      expect(await exited(client)).toBe(0);
      expect(seen.lookup(0)).toBe(1n);
      await new Promise<void>((r) => { const s = connect(port, '127.0.0.1', () => { s.end(); r(); }); });
      expect(seen.lookup(0)).toBe(1n); // this test process is not in the cgroup
    } finally {
      link.destroy();
      obj.close();
      server.close();
    }
  });

  it('a tp/ program attaches where tracefs is mounted, and fails typed where it is not', () => {
    const tracefs = existsSync('/sys/kernel/tracing/events/sched/sched_process_exec');
    const obj = BpfObject.load(TEST_OBJ);
    try {
      if (tracefs) {
        obj.attach('tp_exec').destroy();
      } else {
        let err: unknown;
        try { obj.attach('tp_exec'); } catch (e) { err = e; }
        expect(err).toBeInstanceOf(KernelError);
        expect((err as KernelError).code).toBe('ATTACH');
        expect((err as KernelError).errno).toBe('ENOENT');
        expect((err as KernelError).message).toContain('tp_exec');
      }
    } finally {
      obj.close();
    }
  });
});
