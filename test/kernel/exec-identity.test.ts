import { spawn } from 'node:child_process';
import { realpathSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devToKernel } from '../../agent/attest/index.js';
import { PolicySwitch } from '../../agent/enforce/index.js';
import { SockPrograms, ensureBpffs, uninstall } from '../../agent/kernel/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// Identity in the kernel from the moment of exec: exe_identity names an executable (and uid);
// the exec tracepoint gives each process that runs it its identity before its first instruction,
// with no user space in the loop. Connects are checked in a child cgroup only.
const PIN_DIR = `/sys/fs/bpf/tether-test-execid-${process.pid}`;
const PY = realpathSync('/usr/bin/python3');
const SERVER = 401;
const CLIENT = 402;
const PORT = freePortSync();

function exeKey(path: string, uid: number): { ino: bigint; dev: number; uid: number } {
  const st = statSync(path, { bigint: true });
  return { ino: st.ino, dev: devToKernel(st.dev), uid };
}

describe('identity at exec, in the kernel', () => {
  let cg: TestCgroup;
  let sock: SockPrograms;

  beforeAll(() => {
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-execid');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
  });
  afterAll(async () => {
    new PolicySwitch(sock.maps).disable();
    sock.release();
    try { uninstall(PIN_DIR); } finally { await cg.destroy(); }
  });

  it('gives an exec of a named executable its identity at once, a fork inherits it, an exit clears it', async () => {
    sock.maps.executables.update(exeKey(PY, 0), CLIENT);
    const child = cg.spawn([PY, '-c', 'import os,sys,time\npid = os.fork()\nif pid == 0:\n    time.sleep(30)\nprint(pid, flush=True)\nsys.stdin.readline()'], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    const forked = Number(await waitFor('the fork', () => out.trim() || undefined));
    expect(sock.maps.identities.lookup(child.pid as number)?.id).toBe(CLIENT);
    expect(sock.maps.identities.lookup(forked)?.id).toBe(CLIENT);
    process.kill(forked, 'SIGKILL');
    await waitFor('the fork\'s exit to clear it', () => sock.maps.identities.lookup(forked) === undefined || undefined);
    child.stdin?.end('\n');
    await exited(child);
    expect(sock.maps.identities.lookup(child.pid as number)).toBeUndefined();
  });

  it('decides connects by those identities with nobody writing maps after the exec, and an exec into another program loses it', async () => {
    sock.maps.executables.update(exeKey(PY, 0), CLIENT);
    // the server is a python too: it gets its own identity by the uid it runs as
    sock.maps.executables.update(exeKey(PY, 65534), SERVER);
    const server = cg.spawn(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', PY, '-c', `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", ${PORT})); s.listen(16); print("up", flush=True)
while True:
    c, _ = s.accept(); c.close()`], 'pipe');
    let up = '';
    server.stdout?.on('data', (b: Buffer) => { up += b.toString(); });
    try {
      await waitFor('the server', () => up.includes('up') || undefined);
      expect(sock.maps.listeners.lookup(PORT)).toBe(SERVER);
      new PolicySwitch(sock.maps).apply({ mode: 'enforce', unidentified: 'deny', cidrs: [], tuples: [{ src: CLIENT, dst: SERVER, port: PORT }] });
      const connect = `import socket
try: socket.create_connection(("127.0.0.1", ${PORT}), 5).close(); print("ok")
except PermissionError: print("EPERM")`;
      const run = async (argv: string[]): Promise<string> => {
        const c = cg.spawn(argv, 'pipe');
        let o = '';
        c.stdout?.on('data', (b: Buffer) => { o += b.toString(); });
        await exited(c);
        return o.trim();
      };
      expect(await run([PY, '-c', connect])).toBe('ok'); // connects at once: no user-space step raced
      // a shell (no identity) that execs python: identified from that exec on
      expect(await run(['/bin/sh', '-c', `exec ${PY} -c '${connect}'`])).toBe('ok');
      // python that execs bash, which connects: the identity does not go along with the exec...
      const BASH = realpathSync('/bin/bash');
      const viaBash = [PY, '-c', `import os; os.execv("${BASH}", ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT} 2>/dev/null && echo ok || echo refused"])`];
      expect(await run(viaBash)).toBe('refused');
      // ...unless bash is an identity's executable itself (the same path, now allowed)
      sock.maps.executables.update(exeKey(BASH, 0), CLIENT);
      expect(await run(viaBash)).toBe('ok');
    } finally {
      server.kill('SIGKILL');
      await exited(server);
    }
  });

  it('gives a program started in a named cgroup that cgroup\'s identity, unless its executable names another', async () => {
    const BY_CGROUP = 403;
    for (const k of [...sock.maps.executables.keys()]) sock.maps.executables.delete(k);
    sock.maps.cgroups.update(cg.id, BY_CGROUP);
    const sleeper = cg.spawn(['/bin/sleep', '30']);
    try {
      await waitFor('sleep\'s exec', () => sock.maps.identities.lookup(sleeper.pid as number)?.id === BY_CGROUP || undefined);
      sock.maps.executables.update(exeKey(PY, 0), CLIENT);
      const py = cg.spawn([PY, '-c', 'import sys; sys.stdin.readline()'], 'pipe');
      await waitFor('python\'s exec', () => sock.maps.identities.lookup(py.pid as number)?.id === CLIENT || undefined);
      py.stdin?.end('\n');
      await exited(py);
      // the same program outside the cgroup, while the cgroup's entry is there: nothing
      const outside = spawn('/bin/sleep', ['30']);
      await new Promise((r) => outside.once('spawn', r));
      expect(sock.maps.identities.lookup(outside.pid as number)).toBeUndefined();
      outside.kill('SIGKILL');
    } finally {
      sleeper.kill('SIGKILL');
      await exited(sleeper);
      sock.maps.cgroups.delete(cg.id);
    }
  });
});
