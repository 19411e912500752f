import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import {
  BpfObject, ensureBpffs, packageRoot, perCpu, structCodec, u32, native, u64, uninstall, type BpfLink,
} from '../../agent/kernel/index.js';
import {
  LAYOUT, Mode, Unidentified, Verdict, decodePolicyKey, decodeProcIdentity, decodeSockConfig, encodePolicyKey, encodeProcIdentity,
  encodeSockConfig,
} from '../../agent/kernel/abi.gen.js';
import { execRecord } from '../support/exec-record.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited } from '../support/wait.js';

// bpf/sock.bpf.c attached to a child cgroup (never the v2 root): real connects from real
// processes in that cgroup, decided from the maps the agent will fill.
const PIN_DIR = `/sys/fs/bpf/tether-test-sock-${process.pid}`;
const A = 101; // the client's identity number
const B = 102; // the server's

describe('cgroup/connect4: identity policy in the kernel', () => {
  let cg: TestCgroup;
  let obj: BpfObject;
  let link: BpfLink;
  let server: Server;
  let port: number;
  let host: HostTracker;
  const identities = () => obj.map('proc_identity', u32, structCodec(LAYOUT.tether_proc_identity.size, encodeProcIdentity, decodeProcIdentity));
  const policy = () => obj.map('policy', structCodec(LAYOUT.tether_policy_key.size, encodePolicyKey, decodePolicyKey), { size: 1, encode: (v: number) => Buffer.from([v]), decode: (b: Buffer, o = 0) => b[o] ?? 0 });
  const config = (c: { mode: number; unidentified: number; generation: number; enabled: number; agentTgid: number }) =>
    obj.map('sock_config', u32, structCodec(LAYOUT.tether_sock_config.size, encodeSockConfig, decodeSockConfig)).update(0, c);
  const verdicts = () => obj.map('verdicts', u32, perCpu(u64, native().possibleCpus()));
  const count = (v: number) => (verdicts().lookup(v) ?? []).reduce((a, b) => a + b, 0n);

  /**
   * A python3 in the test cgroup that connects once told to: the test first gives it an identity
   * (its exact start time comes from the tracker's exec event), then says go.
   */
  async function connectAs(id: number | undefined, startNs?: (real: bigint) => bigint, coarse = 0): Promise<string> {
    const child = cg.spawn(['/usr/bin/python3', '-c', `import socket,sys
sys.stdin.readline()
try: socket.create_connection(("127.0.0.1", ${port}), 5).close(); print("ok")
except PermissionError: print("EPERM")`], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid as number;
    const rec = await execRecord(host, pid);
    if (id !== undefined) identities().update(pid, { id, coarse, startNs: startNs ? startNs(rec.key.startNs) : rec.key.startNs });
    child.stdin?.end('go\n');
    await exited(child);
    identities().delete(pid);
    return out.trim();
  }

  beforeAll(async () => {
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-sock');
    obj = BpfObject.load(join(packageRoot(), 'build', 'bpf', 'sock.bpf.o'), { pinRoot: PIN_DIR });
    link = obj.attachCgroup('handle_connect4', cg.path);
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
    obj.map('listeners', u32, u32).update(port, B);
  });
  afterAll(async () => {
    host?.tracker.stop();
    link?.destroy();
    obj?.close();
    server?.close();
    try { uninstall(PIN_DIR); } finally { await cg?.destroy(); }
  });

  it('allows everything while no policy is loaded', async () => {
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 0, agentTgid: 0 });
    expect(await connectAs(undefined)).toBe('ok');
  });

  it('allows A→B on the port by a rule of the generation in force, and refuses it with EPERM without', async () => {
    policy().update({ src: A, dst: B, port, generation: 0 }, 1);
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 1, agentTgid: 0 });
    const denied = count(Verdict.DENY);
    expect(await connectAs(A)).toBe('ok');
    expect(await connectAs(B)).toBe('EPERM'); // B has no rule to itself
    expect(count(Verdict.DENY)).toBe(denied + 1n);
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 1, enabled: 1, agentTgid: 0 }); // generation 1 is empty
    expect(await connectAs(A)).toBe('EPERM');
  });

  it('reports instead of refusing in audit mode, and applies the unidentified setting', async () => {
    config({ mode: Mode.AUDIT, unidentified: Unidentified.ALLOW, generation: 1, enabled: 1, agentTgid: 0 });
    const audited = count(Verdict.AUDIT);
    expect(await connectAs(A)).toBe('ok');
    expect(count(Verdict.AUDIT)).toBe(audited + 1n);
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
    expect(await connectAs(undefined)).toBe('EPERM');
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 1, agentTgid: 0 });
    expect(await connectAs(undefined)).toBe('ok');
  });

  it('does not lend an identity to a later process given the same pid (start time mismatch)', async () => {
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
    expect(await connectAs(A)).toBe('ok');
    expect(await connectAs(A, (real) => real - 1n)).toBe('EPERM'); // an entry left by an earlier process of this pid
  });

  it('matches an entry seeded from /proc (coarse: one clock tick) at tick precision only', async () => {
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
    const tick = 10_000_000n;
    expect(await connectAs(A, (real) => (real / tick) * tick, 1)).toBe('ok');
    expect(await connectAs(A, (real) => (real / tick) * tick - tick, 1)).toBe('EPERM');
  });

  it('leaves processes outside its cgroup alone', async () => {
    config({ mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 1, enabled: 1, agentTgid: 0 });
    const child = spawn('/usr/bin/python3', ['-c', `import socket; socket.create_connection(("127.0.0.1", ${port}), 5).close(); print("ok")`]);
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    await exited(child);
    expect(out.trim()).toBe('ok');
  });
});

