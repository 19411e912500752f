import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshInbound, SockEventKind, Verdict } from '../../agent/kernel/index.js';
import { openInboundRig, type InboundRig } from '../support/inbound-rig.js';

// Runs inside ../shared/vm/vm-run (Debian's 6.1 kernel), started by `make test-vm`: mesh.inbound's
// cgroup_skb/ingress loads, attaches and drops a strict SYN from another host, as
// test/kernel/mesh-inbound.test.ts checks on 6.18. The guest has loopback only: the two hosts are
// network namespaces joined by a veth (its module autoloads).
const PIN_DIR = `/sys/fs/bpf/tether-test-vm-inbound-${process.pid}`;
const LISTENER = 911;

describe('mesh.inbound on Debian 6.1 (vm-run)', () => {
  let rig: InboundRig;

  beforeAll(async () => {
    expect(release()).toMatch(/^6\.1\./);
    rig = await openInboundRig({ name: 'tether-vm-inbound', pinDir: PIN_DIR, listenerId: LISTENER });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('strict: drops A\'s direct SYN to B\'s meshed listener and reports it; loopback and the unidentified port pass', async () => {
    rig.sock.maps.meshConfig.update(0, { tunnelPort: 15001, enabled: 1, inbound: MeshInbound.STRICT, peerPort: 15008 });
    const { a, b } = rig.hosts;
    expect(await rig.dial(a, b.address, rig.meshedPort)).toBe('timeout');
    expect(rig.sock.inboundCounts().denied).toBeGreaterThanOrEqual(1n);
    expect(rig.events().find((e) => e.kind === SockEventKind.INBOUND)).toMatchObject({ verdict: Verdict.DENY, localId: LISTENER, localPort: rig.meshedPort });
    expect(await rig.dial(b, '127.0.0.1', rig.meshedPort)).toBe('ok');
    expect(await rig.dial(a, b.address, rig.plainPort)).toBe('ok');
  });

  it('permissive: lets it through, counted unauthenticated', async () => {
    rig.sock.maps.meshConfig.update(0, { tunnelPort: 15001, enabled: 1, inbound: MeshInbound.PERMISSIVE, peerPort: 15008 });
    expect(await rig.dial(rig.hosts.a, rig.hosts.b.address, rig.meshedPort)).toBe('ok');
    expect(rig.sock.inboundCounts().unauthenticated).toBe(1n);
  });
});
