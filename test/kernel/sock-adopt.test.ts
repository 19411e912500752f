import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BpfObject, Mode, SockEventKind, SockPrograms, Unidentified, Verdict, bpfObjectPath, ensureBpffs, uninstall, type SockEvent,
} from '../../agent/kernel/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited } from '../support/wait.js';

// The connect hook pinned under a test pin dir on a child cgroup: it outlives the programs'
// owner, a new owner adopts it instead of attaching a second, and uninstall removes it.
const PIN_DIR = `/sys/fs/bpf/tether-test-adopt-${process.pid}`;

describe('SockPrograms: pinned, adopted, uninstalled', () => {
  let cg: TestCgroup;
  let server: Server;
  let port: number;

  async function connect(): Promise<string> {
    const child = cg.spawn(['/usr/bin/python3', '-c', `import socket
try: socket.create_connection(("127.0.0.1", ${port}), 5).close(); print("ok")
except PermissionError: print("EPERM")`], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    await exited(child);
    return out.trim();
  }

  beforeAll(async () => {
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-adopt');
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.close();
    try { uninstall(PIN_DIR); } finally { await cg.destroy(); }
  });

  it('keeps enforcing after its owner let go, and is adopted by the next owner, not attached twice', async () => {
    const first = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
    expect(first.link).toBe('attached');
    first.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
    expect(await connect()).toBe('EPERM');
    first.release(); // what a crash leaves: no detach, the pins stay
    expect(await connect()).toBe('EPERM');
    const events: SockEvent[] = [];
    const second = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path, onEvents: (batch) => events.push(...batch) });
    try {
      expect(second.link).toBe('adopted');
      expect(second.maps.config.lookup(0)).toMatchObject({ enabled: 1, unidentified: Unidentified.DENY }); // the state it was enforcing
      expect(await connect()).toBe('EPERM');
      second.drainEvents();
      // The adopted program writes to the pinned ring this owner reads: the denies from before it
      // opened (while nobody read) too, in order.
      expect(events.map((e) => [e.kind, e.verdict, e.peerPort])).toEqual(Array(3).fill([SockEventKind.VERDICT, Verdict.DENY, port]));
      second.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 1, agentTgid: 0 });
      expect(await connect()).toBe('ok'); // the adopted link runs with the same maps
    } finally {
      second.release();
    }
  });

  it('refuses maps pinned with another layout, and says to uninstall', () => {
    const other = `${PIN_DIR}-old`;
    ensureBpffs(other);
    try {
      // what an older tether would have left: the same map names, another size
      BpfObject.load(bpfObjectPath('sock'), { pinRoot: other, maxEntries: { flows: 1024 } }).close();
      expect(() => SockPrograms.open({ pinDir: other, cgroup: cg.path })).toThrow(`run \`tether uninstall --pin-dir ${other}\``);
    } finally {
      uninstall(other);
    }
  });

  it('is gone after uninstall: nothing pinned, nothing enforced', async () => {
    const again = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
    again.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
    again.release();
    expect(await connect()).toBe('EPERM');
    const removed = uninstall(PIN_DIR);
    expect(removed.map((p) => p.slice(PIN_DIR.length + 1)).sort()).toEqual([
      'cgroup_identity', 'cidr_policy', 'conn_clients', 'exe_identity', 'flows', 'link_bind4', 'link_bind6', 'link_connect4', 'link_connect6',
      'link_identity_exec', 'link_identity_exit', 'link_identity_fork', 'link_ingress', 'link_sockops', 'listeners', 'local_addrs',
      'mesh_cidrs', 'mesh_config', 'mesh_origins', 'mesh_pending', 'policy',
      'proc_identity', 'profile_cgroup', 'profile_cidrs', 'profile_events', 'profile_exes', 'profile_mode', 'profile_peers', 'quarantined',
      'sock_config', 'sock_counters', 'sock_events', 'sock_ids', 'verdicts',
    ]);
    expect(await connect()).toBe('ok');
    ensureBpffs(PIN_DIR); // for afterAll
    expect(readdirSync(PIN_DIR)).toEqual([]);
  });
});
