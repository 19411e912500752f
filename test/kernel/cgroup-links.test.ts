import { existsSync, mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfLink, BpfMap, BpfObject, ensureBpffs, native, packageRoot, u32, u64, uninstall } from '../../agent/kernel/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited } from '../support/wait.js';

// An allow-all connect4 program (test/bpf/cgroup_allow.bpf.c) on a child cgroup: it can never
// deny, and never touches the v2 root.
const TEST_OBJ = join(packageRoot(), 'build', 'test-bpf', 'cgroup_allow.bpf.o');
const PIN_DIR = `/sys/fs/bpf/tether-test-links-${process.pid}`;

describe('cgroup links: attach, pin, outlive their loader, uninstall', () => {
  let cg: TestCgroup;
  let port: number;
  const server = createServer((s) => s.end());

  beforeAll(async () => {
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-links');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    try { uninstall(PIN_DIR); } finally { await cg.destroy(); }
    server.close();
  });

  /** A connect() from a process inside the test cgroup. */
  async function connectFromCgroup(): Promise<number | null> {
    const child = cg.spawn(['/usr/bin/python3', '-c', `import socket; socket.create_connection(("127.0.0.1", ${port})).close()`]);
    return exited(child);
  }

  it('a pinned link keeps its program attached after the object and link fds are closed', async () => {
    const obj = BpfObject.load(TEST_OBJ);
    const link = obj.attachCgroup('allow_connect4', cg.path);
    link.pin(join(PIN_DIR, 'allow_connect4'));
    const connects = join(PIN_DIR, 'connects');
    native().objPin(obj.mapFd('connects'), connects);
    link.release();
    obj.close();

    expect(await connectFromCgroup()).toBe(0);
    const counter = BpfMap.openPinned(connects, u32, u64);
    try {
      expect(counter.lookup(0)).toBeGreaterThanOrEqual(1n); // the program still ran
    } finally {
      counter.close();
    }
    // connects from outside the cgroup do not run it
    const before = BpfMap.openPinned(connects, u32, u64);
    const n = before.lookup(0);
    await new Promise<void>((r) => { const s = connect(port, '127.0.0.1', () => { s.end(); r(); }); });
    expect(before.lookup(0)).toBe(n);
    before.close();
  });

  it('a pinned link can be adopted by a new owner and detached', () => {
    const adopted = BpfLink.openPinned(join(PIN_DIR, 'allow_connect4'));
    expect(adopted.fd).toBeGreaterThan(0);
    adopted.release();
  });

  it('uninstall detaches and removes every pin', async () => {
    const counter = BpfMap.openPinned(join(PIN_DIR, 'connects'), u32, u64); // kept open across the uninstall
    try {
      const removed = uninstall(PIN_DIR);
      expect(removed.sort()).toEqual([join(PIN_DIR, 'allow_connect4'), join(PIN_DIR, 'connects')]);
      expect(existsSync(PIN_DIR)).toBe(false);
      const n = counter.lookup(0);
      expect(await connectFromCgroup()).toBe(0);
      expect(counter.lookup(0)).toBe(n); // the program no longer runs: detached, not just unpinned
    } finally {
      counter.close();
      mkdirSync(PIN_DIR); // afterAll's uninstall finds an empty dir
    }
  });
});
