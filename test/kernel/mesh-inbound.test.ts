import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MeshInbound, SockEventKind, SockRole, Verdict, formatIp, ipv4Bytes, type SockEvent,
} from '../../agent/kernel/index.js';
import { openInboundRig, type InboundRig } from '../support/inbound-rig.js';

// mesh.inbound in cgroup_skb/ingress (sock_inbound.h): B's meshed listener, in the cgroup the
// programs are attached to, is reached from host A only through its agent (strict: A's direct SYN
// is dropped) or directly but reported unauthenticated (permissive). Two network namespaces
// joined by a veth play the hosts (test/support/netns-hosts.ts).
const PIN_DIR = `/sys/fs/bpf/tether-test-inbound-${process.pid}`;
const LISTENER = 811;

describe('mesh.inbound: direct SYNs from other hosts to meshed listeners (sock.bpf.c handle_ingress)', () => {
  let rig: InboundRig;
  let counted = { denied: 0n, unauthenticated: 0n };
  let eventsBefore = 0;
  const inbound = (mode: number, enabled = 1, peerPort = 15008): void =>
    rig.sock.maps.meshConfig.update(0, { tunnelPort: 15001, enabled, inbound: mode, peerPort });
  const newCounts = (): { denied: bigint; unauthenticated: bigint } => {
    const now = rig.sock.inboundCounts();
    return { denied: now.denied - counted.denied, unauthenticated: now.unauthenticated - counted.unauthenticated };
  };
  const newInbound = (): SockEvent[] => rig.events().slice(eventsBefore).filter((e) => e.kind === SockEventKind.INBOUND);

  beforeAll(async () => {
    rig = await openInboundRig({ name: 'tether-kt-inbound', pinDir: PIN_DIR, listenerId: LISTENER });
  });
  afterAll(async () => {
    await rig?.close();
  });
  beforeEach(() => {
    counted = rig.sock.inboundCounts();
    eventsBefore = rig.events().length;
  });

  it('strict: drops A\'s SYN to the identified listener, counts it and reports it from the listener\'s side', async () => {
    inbound(MeshInbound.STRICT);
    const { a, b } = rig.hosts;
    expect(await rig.dial(a, b.address, rig.meshedPort)).toBe('timeout');
    expect(newCounts().denied).toBeGreaterThanOrEqual(1n); // the SYN and its retransmissions
    expect(newCounts().unauthenticated).toBe(0n);
    const events = newInbound();
    expect(events.length).toBeGreaterThanOrEqual(1);
    for (const e of events) {
      expect(e).toMatchObject({
        verdict: Verdict.DENY, role: SockRole.SERVER, family: 4, localId: LISTENER, peerId: 0, tgid: 0,
        localPort: rig.meshedPort, cgroupId: rig.cg.id,
      });
      expect([formatIp(4, e.localAddr.subarray(0, 4)), formatIp(4, e.peerAddr.subarray(0, 4))]).toEqual([b.address, a.address]);
      expect(e.peerPort).toBeGreaterThan(0);
    }
  });

  it('strict: drops A\'s IPv6 SYN too', async () => {
    inbound(MeshInbound.STRICT);
    expect(await rig.dial(rig.hosts.a, rig.v6.b, rig.meshedPort)).toBe('timeout');
    const e = newInbound()[0];
    expect(e).toMatchObject({ verdict: Verdict.DENY, family: 6, localId: LISTENER, localPort: rig.meshedPort });
    expect([formatIp(6, e?.localAddr ?? Buffer.alloc(16)), formatIp(6, e?.peerAddr ?? Buffer.alloc(16))]).toEqual([rig.v6.b, rig.v6.a]);
  });

  it('strict: lets this host in: B over 127.0.0.1 and ::1, and B\'s own address once it is in local_addrs', async () => {
    inbound(MeshInbound.STRICT);
    const { b } = rig.hosts;
    expect(await rig.dial(b, '127.0.0.1', rig.meshedPort)).toBe('ok');
    expect(await rig.dial(b, '::1', rig.meshedPort)).toBe('ok');
    expect(await rig.dial(b, b.address, rig.meshedPort)).toBe('timeout'); // not listed: another host's address
    const key = { family: 4, addr: Buffer.concat([ipv4Bytes(b.address), Buffer.alloc(12)]) };
    rig.sock.maps.localAddresses.update(key, 1);
    try {
      const before = newCounts().denied;
      expect(await rig.dial(b, b.address, rig.meshedPort)).toBe('ok');
      expect(newCounts().denied).toBe(before);
    } finally {
      rig.sock.maps.localAddresses.delete(key);
    }
  });

  it('strict: lets A reach a listener without an identity', async () => {
    inbound(MeshInbound.STRICT);
    expect(rig.sock.maps.listeners.lookup(rig.plainPort)).toBeUndefined();
    expect(await rig.dial(rig.hosts.a, rig.hosts.b.address, rig.plainPort)).toBe('ok');
    expect(newCounts()).toEqual({ denied: 0n, unauthenticated: 0n });
    expect(newInbound()).toEqual([]);
  });

  it('strict: never closes the peer agents\' port, even with an identified listener there', async () => {
    inbound(MeshInbound.STRICT, 1, rig.meshedPort);
    expect(await rig.dial(rig.hosts.a, rig.hosts.b.address, rig.meshedPort)).toBe('ok');
    expect(newCounts()).toEqual({ denied: 0n, unauthenticated: 0n });
  });

  it('permissive: lets A\'s direct connect through, counted and reported as allowed, unauthenticated', async () => {
    inbound(MeshInbound.PERMISSIVE);
    const { a, b } = rig.hosts;
    expect(await rig.dial(a, b.address, rig.meshedPort)).toBe('ok');
    expect(newCounts()).toEqual({ denied: 0n, unauthenticated: 1n });
    const events = newInbound();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ verdict: Verdict.ALLOW, role: SockRole.SERVER, family: 4, localId: LISTENER, localPort: rig.meshedPort });
    expect(formatIp(4, events[0]?.peerAddr.subarray(0, 4) ?? Buffer.alloc(4))).toBe(a.address);
  });

  it('off, or with the mesh disabled: looks at nothing', async () => {
    const { a, b } = rig.hosts;
    inbound(MeshInbound.OFF);
    expect(await rig.dial(a, b.address, rig.meshedPort)).toBe('ok');
    inbound(MeshInbound.STRICT, 0);
    expect(await rig.dial(a, b.address, rig.meshedPort)).toBe('ok');
    expect(newCounts()).toEqual({ denied: 0n, unauthenticated: 0n });
    expect(newInbound()).toEqual([]);
  });
});
