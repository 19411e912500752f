import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mode, SockPrograms, Unidentified, Verdict, cidrKey } from '../../agent/kernel/index.js';
import { openSockRig, type SockRig, type SockWorkloads } from '../support/sock-workload.js';
import { freePortSync } from '../support/free-port.js';

// cgroup/bind6 and connect6 on a child cgroup: a dual-stack python server of identity B, python
// clients of identity A over [::1], and a v4-mapped destination decided as the IPv4 it is.
const PIN_DIR = `/sys/fs/bpf/tether-test-ipv6-${process.pid}`;
const A = 401;
const B = 402;
const PORT = freePortSync();

describe('cgroup/connect6 and bind6', () => {
  let rig: SockRig;
  let sock: SockPrograms;
  let run: SockWorkloads;
  let plain: Server; // an unidentified listener outside the cgroup
  let plainPort: number;
  const enforce = (generation = 0, mode: number = Mode.ENFORCE) =>
    sock.maps.config.update(0, { mode, unidentified: Unidentified.ALLOW, generation, enabled: 1, agentTgid: 0 });
  const count = (v: number) => (sock.maps.verdicts.lookup(v) ?? []).reduce((a, b) => a + b, 0n);

  beforeAll(async () => {
    rig = await openSockRig({ name: 'tether-kt-ipv6', pinDir: PIN_DIR, serverId: B, port: PORT });
    ({ sock, run } = rig);
    plain = createServer((s) => s.end());
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    plainPort = (plain.address() as { port: number }).port;
  });
  afterAll(async () => {
    plain?.close();
    await rig?.close();
  });

  it('records the identity that binds an IPv6 socket as the port\'s listener', () => {
    expect(sock.maps.listeners.lookup(PORT)).toBe(B);
  });

  it('allows A→B over [::1] by the identity rule, and refuses it with EPERM without', async () => {
    sock.maps.policy.update({ src: A, dst: B, port: PORT, generation: 0 }, 1);
    enforce();
    const denied = count(Verdict.DENY);
    expect(await run.connect(A, '::1', PORT)).toBe('ok');
    expect(await run.connect(B, '::1', PORT)).toBe('EPERM'); // no rule B→B
    expect(count(Verdict.DENY)).toBe(denied + 1n);
    enforce(1); // generation 1 is empty
    expect(await run.connect(A, '::1', PORT)).toBe('EPERM');
  });

  it('allows in audit mode and counts the would-deny', async () => {
    enforce(1, Mode.AUDIT);
    const audited = count(Verdict.AUDIT);
    expect(await run.connect(A, '::1', PORT)).toBe('ok');
    expect(count(Verdict.AUDIT)).toBe(audited + 1n);
  });

  it('decides a v4-mapped destination as IPv4: locality, listener, CIDR rules and the flow\'s family', async () => {
    enforce();
    expect(await run.connect(A, '::ffff:127.0.0.1', PORT)).toBe('ok'); // loopback → listener B → rule A→B
    expect(await run.connect(A, '::ffff:127.0.0.1', plainPort)).toBe('EPERM'); // no listener identity: external
    const rule = cidrKey({ src: A, port: plainPort, generation: 0, family: 4, address: Buffer.from([127, 0, 0, 1]), prefixLength: 32 });
    sock.maps.cidrs.update(rule, 1);
    try {
      expect(await run.connect(A, '::ffff:127.0.0.1', plainPort)).toBe('ok');
    } finally {
      sock.maps.cidrs.delete(rule);
    }
    const flow = sock.maps.flows.entries().find(([k]) => k.src === A && k.port === plainPort);
    expect(flow?.[0]).toMatchObject({ dst: 0, family: 4 });
    expect([...(flow?.[0].addr ?? [])]).toEqual([127, 0, 0, 1, ...Array(12).fill(0)]);
    expect(flow?.[1]).toMatchObject({ count: 2n, verdict: Verdict.ALLOW });
  });
});
