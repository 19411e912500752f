import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import { PolicySwitch } from '../../agent/enforce/index.js';
import { SockPrograms, ensureBpffs, uninstall } from '../../agent/kernel/index.js';
import { execRecord } from '../support/exec-record.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// cgroup/bind4 records which identity listens on a port: a real python server in a child cgroup,
// given identity B, binds; a python client of identity A connects by the rule A→B.
const PIN_DIR = `/sys/fs/bpf/tether-test-listen-${process.pid}`;
const A = 301;
const B = 302;
const PORT = freePortSync();

describe('cgroup/bind4: listener identities', () => {
  let cg: TestCgroup;
  let host: HostTracker;
  let sock: SockPrograms;

  /** Starts `script` in the cgroup as identity `id`; it runs once the identity is in place. */
  async function asIdentity(id: number, script: string): Promise<{ output: () => string; done: Promise<number | null>; kill: () => void }> {
    const child = cg.spawn(['/usr/bin/python3', '-c', `import sys\nsys.stdin.readline()\n${script}`], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid as number;
    const rec = await execRecord(host, pid);
    sock.maps.identities.update(pid, { id, coarse: 0, startNs: rec.key.startNs });
    child.stdin?.write('go\n');
    return { output: () => out, done: exited(child), kill: () => child.kill('SIGKILL') };
  }

  beforeAll(() => {
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-listen');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
  });
  afterAll(async () => {
    host.tracker.stop();
    sock.release();
    try { uninstall(PIN_DIR); } finally { await cg.destroy(); }
  });

  it('learns the listener\'s identity at bind, and the connect is decided against it', async () => {
    const server = await asIdentity(B, `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", ${PORT})); s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept(); c.close()`);
    try {
      await waitFor('the server to listen', () => server.output().includes('listening') || undefined);
      expect(sock.maps.listeners.lookup(PORT)).toBe(B);
      const connect = `import socket
try: socket.create_connection(("127.0.0.1", ${PORT}), 5).close(); print("ok")
except PermissionError: print("EPERM")`;
      const policies = new PolicySwitch(sock.maps);
      policies.apply({ mode: 'enforce', unidentified: 'deny', cidrs: [], tuples: [{ src: A, dst: B, port: PORT }] });
      const allowed = await asIdentity(A, connect);
      await allowed.done;
      expect(allowed.output().trim()).toBe('ok');
      policies.apply({ mode: 'enforce', unidentified: 'deny', cidrs: [], tuples: [{ src: A, dst: A, port: PORT }] });
      const denied = await asIdentity(A, connect);
      await denied.done;
      expect(denied.output().trim()).toBe('EPERM');
    } finally {
      server.kill();
      await server.done;
      new PolicySwitch(sock.maps).disable();
    }
  });
});
