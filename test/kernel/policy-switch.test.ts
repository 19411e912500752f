import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import { PolicySwitch, type CompiledPolicy } from '../../agent/enforce/index.js';
import { SockPrograms, ensureBpffs, uninstall } from '../../agent/kernel/index.js';
import { execRecord } from '../support/exec-record.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited } from '../support/wait.js';

// Policies swapped while a process in a child cgroup hammers connect(): every connect is
// decided by one whole policy, never by a mix of two or by none.
const PIN_DIR = `/sys/fs/bpf/tether-test-switch-${process.pid}`;
const A = 201;
const B = 202;

describe('PolicySwitch', () => {
  let cg: TestCgroup;
  let host: HostTracker;
  let sock: SockPrograms;
  let server: Server;
  let port: number;

  /** A python3 of identity A in the cgroup doing `n` connects once told to; its "ok denied" counts. */
  async function hammer(n: number, whileRunning: () => Promise<void>): Promise<{ ok: number; denied: number }> {
    const child = cg.spawn(['/usr/bin/python3', '-c', `import socket,sys
sys.stdin.readline()
ok = denied = 0
for i in range(${n}):
    try:
        socket.create_connection(("127.0.0.1", ${port}), 5).close(); ok += 1
    except PermissionError:
        denied += 1
print(ok, denied)`], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid as number;
    const rec = await execRecord(host, pid);
    sock.maps.identities.update(pid, { id: A, coarse: 0, startNs: rec.key.startNs });
    child.stdin?.end('go\n');
    const done = exited(child);
    await whileRunning();
    await done;
    sock.maps.identities.delete(pid);
    const [ok, denied] = out.trim().split(' ').map(Number);
    return { ok: ok ?? -1, denied: denied ?? -1 };
  }

  const allowAB = (extra: number): CompiledPolicy => ({
    mode: 'enforce', unidentified: 'deny', cidrs: [],
    tuples: [{ src: A, dst: B, port }, ...Array.from({ length: extra }, (_, i) => ({ src: 1000 + i, dst: B, port: 0 }))],
  });

  beforeAll(async () => {
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-switch');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
    sock.maps.listeners.update(port, B);
  });
  afterAll(async () => {
    host.tracker.stop();
    sock.release();
    server.close();
    try { uninstall(PIN_DIR); } finally { await cg.destroy(); }
  });

  it('denies without the rule (the hook is live), allows with it', async () => {
    const policies = new PolicySwitch(sock.maps);
    policies.apply({ mode: 'enforce', unidentified: 'deny', cidrs: [], tuples: [] });
    expect(await hammer(5, async () => {})).toEqual({ ok: 0, denied: 5 });
    policies.apply(allowAB(0));
    expect(await hammer(5, async () => {})).toEqual({ ok: 5, denied: 0 });
  });

  it('swaps between two policies that both allow A→B, 200 times under load, and no connect is ever denied', async () => {
    const policies = new PolicySwitch(sock.maps);
    let swaps = 0;
    const r = await hammer(3000, async () => {
      for (; swaps < 200; swaps++) {
        policies.apply(allowAB(swaps % 2 === 0 ? 500 : 0)); // one of them with 500 more rules to write
        await new Promise((res) => setImmediate(res));
      }
    });
    expect(swaps).toBe(200);
    expect(r).toEqual({ ok: 3000, denied: 0 });
    // only the generation in force is left in the map
    const { generation } = policies.current();
    expect(new Set([...sock.maps.policy.keys()].map((k) => k.generation))).toEqual(new Set([generation]));
  });

  it('disable() allows everything', async () => {
    const policies = new PolicySwitch(sock.maps);
    policies.apply({ mode: 'enforce', unidentified: 'deny', cidrs: [], tuples: [] });
    policies.disable();
    expect(await hammer(3, async () => {})).toEqual({ ok: 3, denied: 0 });
  });
});
