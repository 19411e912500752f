import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BpfLink, KernelError, Mode, SockEventKind, SockPrograms, SockRole, Unidentified, Verdict, type SockEvent,
} from '../../agent/kernel/index.js';
import { CONNECT_PY, openSockRig, type SockRig, type SockWorkloads } from '../support/sock-workload.js';
import { waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// Runs inside ../shared/vm/vm-run (Debian's 6.1 kernel), started by `make test-vm`: bpf/sock.bpf.c
// (connect4/6, bind4/6, sockops, sk_storage written from cgroup/connect) loads and decides there too.
const PIN_DIR = `/sys/fs/bpf/tether-test-vm-sock-${process.pid}`;
const A = 801;
const B = 802;
const PORT = freePortSync();

describe('SockPrograms on Debian 6.1 (vm-run)', () => {
  let rig: SockRig;
  let sock: SockPrograms;
  let run: SockWorkloads;
  const events: SockEvent[] = [];

  beforeAll(async () => {
    expect(release()).toMatch(/^6\.1\./);
    rig = await openSockRig({ name: 'tether-vm-sock', pinDir: PIN_DIR, serverId: B, port: PORT, onEvents: (batch) => events.push(...batch) });
    ({ sock, run } = rig);
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('allows A→B by the rule (both ends reported by sockops) and denies B→B with EPERM and an event', async () => {
    expect(sock.maps.listeners.lookup(PORT)).toBe(B); // bind6
    sock.maps.policy.update({ src: A, dst: B, port: PORT, generation: 0 }, 1);
    sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 1, agentTgid: 0 });
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

  it('finds a hook detached behind its back (cgroup id 0) and re-attaches it; a tp_btf link refuses detach (EOPNOTSUPP)', async () => {
    const pin = join(PIN_DIR, 'link_connect6');
    const outside = BpfLink.openPinned(pin);
    try { outside.detach(); } finally { outside.destroy(); }
    expect(sock.check().filter((c) => !c.ok)).toEqual([{ program: 'handle_connect6', ok: false, detail: 'detached behind the agent\'s back' }]);
    expect(await run.connect(B, '::1', PORT)).toBe('ok'); // no hook, no deny
    expect(sock.repair()).toEqual([`handle_connect6: re-attached, pinned at ${pin}`]);
    expect(sock.check().every((c) => c.ok)).toBe(true);
    expect(await run.connect(B, '::1', PORT)).toBe('EPERM');
    const tp = BpfLink.openPinned(join(PIN_DIR, 'link_identity_exec'));
    try {
      expect(tp.info()).toMatchObject({ typeName: 'raw_tracepoint', tpName: 'sched_process_exec' });
      let code: string | undefined;
      try { tp.detach(); } catch (err) { code = err instanceof KernelError ? err.errno : String(err); }
      expect(code).toBe('EOPNOTSUPP');
      expect(tp.attached()).toBe(true);
    } finally {
      tp.destroy();
    }
  });
});
