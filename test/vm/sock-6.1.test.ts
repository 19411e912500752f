import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import {
  Mode, SockEventKind, SockPrograms, SockRole, Unidentified, Verdict, ensureBpffs, uninstall, type SockEvent,
} from '../../agent/kernel/index.js';
import { CONNECT_PY, SockWorkloads, type Workload } from '../support/sock-workload.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { waitFor } from '../support/wait.js';

// Runs inside ../shared/vm/vm-run (Debian's 6.1 kernel), started by `make test-vm`: bpf/sock.bpf.c
// (connect4/6, bind4/6, sockops, sk_storage written from cgroup/connect) loads and decides there too.
const PIN_DIR = `/sys/fs/bpf/tether-test-vm-sock-${process.pid}`;
const A = 801;
const B = 802;
const PORT = 24000 + (process.pid % 20000);

describe('SockPrograms on Debian 6.1 (vm-run)', () => {
  let cg: TestCgroup;
  let host: HostTracker;
  let sock: SockPrograms;
  let run: SockWorkloads;
  let server: Workload;
  const events: SockEvent[] = [];

  beforeAll(async () => {
    expect(release()).toMatch(/^6\.1\./);
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-vm-sock');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path, onEvents: (batch) => events.push(...batch) });
    run = new SockWorkloads({ host, cg, identities: () => sock.maps.identities });
    server = await run.python(B, `import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", ${PORT})); s.listen(64)
print("listening", flush=True)
while True: s.accept()[0].close()`);
    await server.line('listening');
  });
  afterAll(async () => {
    server?.kill();
    host?.tracker.stop();
    sock?.release();
    try { uninstall(PIN_DIR); } finally { await cg?.destroy(); }
  });

  it('allows A→B by the rule (both ends reported by sockops) and denies B→B with EPERM and an event', async () => {
    expect(sock.maps.listeners.lookup(PORT)).toBe(B); // bind6
    sock.maps.policy.update({ src: A, dst: B, port: PORT, generation: 0 }, 1);
    sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 1 });
    const client = await run.python(A, `${CONNECT_PY}attempt("127.0.0.1", ${PORT}, hold=True)`);
    const clientPort = Number((await client.line('ok ')).split(' ')[1]);
    const opens = await waitFor('both opens', () => { sock.drainEvents(); const o = events.filter((e) => e.kind === SockEventKind.OPEN); return o.length >= 2 && o; }, 60_000);
    expect(opens.map((e) => [e.role, e.localId, e.peerId, e.localPort, e.peerPort]).sort()).toEqual([[SockRole.CLIENT, A, B, clientPort, PORT], [SockRole.SERVER, B, A, PORT, clientPort]]);
    client.say('');
    await client.done;
    expect(await run.connect(B, '::1', PORT)).toBe('EPERM');
    sock.drainEvents();
    expect(events.filter((e) => e.kind === SockEventKind.VERDICT).map((e) => [e.localId, e.peerId, e.family, e.verdict, e.comm]))
      .toEqual([[B, B, 6, Verdict.DENY, 'python3']]);
    expect(sock.eventsLost()).toBe(0n);
  });
});
