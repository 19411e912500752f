import { networkInterfaces } from 'node:os';
import { isIPv4 } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import { Mode, SockPrograms, Unidentified, Verdict, cidrKey, ensureBpffs, uninstall } from '../../agent/kernel/index.js';
import { SockWorkloads } from '../support/sock-workload.js';
import { TestCgroup } from '../support/test-cgroup.js';

// Destinations without an identified local listener are "external": decided by (caller, port,
// CIDR) rules in an LPM trie. An unidentified listener on 127.0.0.1 stands in for a remote host
// that answers; documentation addresses (TEST-NET-3, 2001:db8::/32) for ones that do not: a deny
// is EPERM from connect() itself, an allowed non-blocking connect gets as far as the network.
const PIN_DIR = `/sys/fs/bpf/tether-test-cidr-${process.pid}`;
const A = 501;
const B = 502;
const C = 503;
const REMOTE4 = '203.0.113.7';
const REMOTE6 = '2001:db8::7';
const v4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
const v6doc = (last: number): Buffer => { const b = Buffer.alloc(16); b.writeUInt16BE(0x2001, 0); b.writeUInt16BE(0xdb8, 2); b[15] = last; return b; };

describe('remote CIDR rules, locality and flows', () => {
  let cg: TestCgroup;
  let host: HostTracker;
  let sock: SockPrograms;
  let run: SockWorkloads;
  let plain: Server; // an unidentified listener: "external" although local
  let plainPort: number;
  let identified: Server; // a listener the test gives identity B, on every address
  let idPort: number;
  const enforce = (generation = 0) => sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation, enabled: 1, agentTgid: 0 });
  const rule = (r: { src?: number; port: number; generation?: number; family?: 4 | 6; address: Buffer; prefixLength: number }) =>
    cidrKey({ src: r.src ?? A, generation: r.generation ?? 0, family: r.family ?? 4, ...r });

  beforeAll(async () => {
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-cidr');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
    run = new SockWorkloads({ host, cg, identities: () => sock.maps.identities });
    plain = createServer((s) => s.end());
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    plainPort = (plain.address() as { port: number }).port;
    identified = createServer((s) => s.end());
    await new Promise<void>((r) => identified.listen(0, '0.0.0.0', () => r()));
    idPort = (identified.address() as { port: number }).port;
    sock.maps.listeners.update(idPort, B);
    enforce();
  });
  afterAll(async () => {
    plain?.close();
    identified?.close();
    host?.tracker.stop();
    sock?.release();
    try { uninstall(PIN_DIR); } finally { await cg?.destroy(); }
  });

  it('denies an identified caller to an unidentified listener without a rule, allows it by a /32 rule', async () => {
    expect(await run.connect(A, '127.0.0.1', plainPort)).toBe('EPERM');
    const exact = rule({ port: plainPort, address: v4('127.0.0.1'), prefixLength: 32 });
    sock.maps.cidrs.update(exact, 1);
    expect(await run.connect(A, '127.0.0.1', plainPort)).toBe('ok');
    expect(await run.connect(C, '127.0.0.1', plainPort)).toBe('EPERM'); // the rule is A's
    sock.maps.cidrs.delete(exact);
  });

  it('matches port-0 rules on every port, prefixes by their length, and never the other generation', async () => {
    const anyPort = rule({ port: 0, address: v4('127.0.0.0'), prefixLength: 8 });
    sock.maps.cidrs.update(anyPort, 1);
    expect(await run.connect(A, '127.0.0.1', plainPort)).toBe('ok');
    sock.maps.cidrs.delete(anyPort);
    const otherNet = rule({ port: 0, address: v4('127.1.0.0'), prefixLength: 16 });
    const otherGen = rule({ port: plainPort, generation: 1, address: v4('127.0.0.1'), prefixLength: 32 });
    sock.maps.cidrs.update(otherNet, 1);
    sock.maps.cidrs.update(otherGen, 1);
    expect(await run.connect(A, '127.0.0.1', plainPort)).toBe('EPERM');
    enforce(1);
    expect(await run.connect(A, '127.0.0.1', plainPort)).toBe('ok'); // generation 1 in force now
    enforce(0);
    sock.maps.cidrs.delete(otherNet);
    sock.maps.cidrs.delete(otherGen);
  });

  it('decides non-local IPv4 and IPv6 destinations by CIDR: EPERM without, out to the network with', async () => {
    expect(await run.connect(A, REMOTE4, 9, false)).toBe('EPERM');
    expect(await run.connect(A, REMOTE6, 9, false)).toBe('EPERM');
    const net4 = rule({ port: 9, address: v4('203.0.113.0'), prefixLength: 24 });
    const net6 = rule({ port: 0, family: 6, address: v6doc(0), prefixLength: 32 });
    sock.maps.cidrs.updateMany([[net4, 1], [net6, 1]]);
    expect(await run.connect(A, REMOTE4, 9, false)).not.toBe('EPERM'); // EINPROGRESS, or ENETUNREACH without a route
    expect(await run.connect(A, REMOTE6, 9, false)).not.toBe('EPERM');
    expect(await run.connect(A, REMOTE4, 10, false)).toBe('EPERM'); // the IPv4 rule names port 9
    sock.maps.cidrs.deleteMany([net4, net6]);
  });

  it('decides a non-loopback host address by the listener\'s identity once it is in local_addrs', async () => {
    const address = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && isIPv4(i.address))?.address;
    expect(address, 'a non-loopback IPv4 address on this host').toBeDefined();
    const local = { family: 4, addr: v4(address as string) };
    sock.maps.policy.update({ src: A, dst: B, port: idPort, generation: 0 }, 1);
    expect(await run.connect(A, address as string, idPort)).toBe('EPERM'); // not known as local: external, no CIDR rule
    sock.maps.localAddresses.update(local, 1);
    try {
      expect(await run.connect(A, address as string, idPort)).toBe('ok'); // local: listener B, rule A→B
    } finally {
      sock.maps.localAddresses.delete(local);
    }
  });

  it('keeps flows: identified destinations by (src, dst, port), external ones with the address', () => {
    const flows = sock.maps.flows.entries();
    const toB = flows.find(([k]) => k.src === A && k.dst === B && k.port === idPort);
    expect(toB?.[0]).toMatchObject({ family: 0 });
    expect(toB?.[0].addr.equals(Buffer.alloc(16))).toBe(true);
    expect(toB?.[1]).toMatchObject({ count: 1n, verdict: Verdict.ALLOW });
    const remote = flows.filter(([k]) => k.src === A && k.dst === 0 && k.family === 4 && k.addr.subarray(0, 4).equals(v4(REMOTE4)));
    expect(remote.map(([k, v]) => [k.port, v.count, v.verdict]).sort()).toEqual([[10, 1n, Verdict.DENY], [9, 2n, Verdict.ALLOW]]);
    const remote6 = flows.find(([k]) => k.src === A && k.family === 6 && k.addr.equals(v6doc(7)));
    expect(remote6?.[1]).toMatchObject({ count: 2n, verdict: Verdict.ALLOW });
    const local = flows.find(([k]) => k.src === A && k.dst === 0 && k.port === plainPort);
    expect(local?.[1].count).toBe(5n); // A's connects above to the unidentified listener, allowed or not
    expect(local?.[1].lastNs).toBeGreaterThan(0n);
    expect(flows.some(([k]) => k.src === 0)).toBe(false); // unidentified callers are not recorded
  });
});
