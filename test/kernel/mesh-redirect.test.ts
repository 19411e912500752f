import { readFileSync } from 'node:fs';
import { isIPv4, createServer, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import {
  MeshInbound, Mode, SockPrograms, Unidentified, cidrKey, ensureBpffs, meshCidrKey, uninstall, type MeshConfig, type MeshDestination,
} from '../../agent/kernel/index.js';
import { SockWorkloads } from '../support/sock-workload.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { waitFor } from '../support/wait.js';

// The kernel half of the mesh (MESH.md §1): connect4/6 point a connect to a meshed remote at the
// agent's tunnel listener and sockops hands the agent, keyed by the accepted socket's peer, where
// the connect was going and who made it. A Node server on 127.0.0.1 and ::1 plays the listener;
// documentation networks play the remotes (198.51.100.0/24 and 2001:db8::/32: 192.0.2.0/24 is
// this machine's own eth0 network).
const PIN_DIR = `/sys/fs/bpf/tether-test-mesh-${process.pid}`;
const A = 701;
const C = 703;
const PEER_PORT = 15008; // peer agents' tunnel port: never redirected
const v4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
const v6doc = (): Buffer => { const b = Buffer.alloc(16); b.writeUInt16BE(0x2001, 0); b.writeUInt16BE(0xdb8, 2); return b; };

/** Connects, sends "ping", prints "ok <local port> <peer address> <peer port>" and holds until told;
 * else prints the errno name or "timeout". */
const meshConnect = (host: string, port: number, timeout = 5): string => `import errno, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in ${JSON.stringify(host)} else socket.AF_INET)
s.settimeout(${timeout})
try:
    s.connect((${JSON.stringify(host)}, ${port}))
    s.sendall(b"ping")
    print("ok", s.getsockname()[1], *s.getpeername()[:2], flush=True)
    sys.stdin.readline()
except socket.timeout:
    print("timeout", flush=True)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
s.close()
`;

interface Accepted {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly origin: MeshDestination | undefined;
  readonly again: MeshDestination | undefined;
  data: string;
  readonly socket: Socket;
}

describe('mesh redirect in connect4/6 and the origin for the agent (sock.bpf.c)', () => {
  let host: HostTracker;
  let cg: TestCgroup;
  let sock: SockPrograms;
  let run: SockWorkloads;
  const tunnels: Server[] = [];
  let tunnelPort = 0;
  const meshOn = (enabled: number): MeshConfig => ({ tunnelPort, enabled, inbound: MeshInbound.OFF, peerPort: PEER_PORT });
  const accepted: Accepted[] = [];
  let plain: Server; // a non-meshed server on every address
  let plainPort: number;
  let plainCount = 0;
  const meshed = [
    meshCidrKey({ port: 0, family: 4, address: v4('198.51.100.0'), prefixLength: 24 }),
    meshCidrKey({ port: 0, family: 6, address: v6doc(), prefixLength: 32 }),
  ];

  /** The agent's part on accept: one look-up of the peer, then a second that must find nothing. */
  let take = true; // false: an agent that never looks
  const onTunnel = (s: Socket): void => {
    const remoteAddress = s.remoteAddress as string;
    const remotePort = s.remotePort as number;
    const look = (): MeshDestination | undefined => (take ? sock.meshOrigin(remoteAddress, remotePort) : undefined);
    const a: Accepted = { remoteAddress, remotePort, origin: look(), again: look(), data: '', socket: s };
    accepted.push(a);
    s.on('data', (d: Buffer) => { a.data += d.toString(); });
    s.on('error', () => { /* the client's reset */ });
  };
  const listen = (server: Server, port: number, address: string): Promise<void> => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  const acceptedFrom = (port: number): Promise<Accepted> =>
    waitFor(`the tunnel listener's accept of port ${port}`, () => accepted.find((a) => a.remotePort === port));
  const clientPort = async (w: { line(p: string): Promise<string> }): Promise<number> => Number((await w.line('ok ')).split(' ')[1]);

  beforeAll(async () => {
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-mesh');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
    run = new SockWorkloads({ host, cg, identities: () => sock.maps.identities });
    for (let i = 0; tunnelPort === 0; i++) { // one port on both loopbacks
      const t4 = createServer(onTunnel);
      await listen(t4, 0, '127.0.0.1');
      const port = (t4.address() as { port: number }).port;
      const t6 = createServer(onTunnel);
      try {
        await listen(t6, port, '::1');
        tunnels.push(t4, t6);
        tunnelPort = port;
      } catch (err) {
        t4.close();
        if (i > 20) throw err;
      }
    }
    plain = createServer((s) => { plainCount++; s.on('error', () => {}); s.end(); });
    await listen(plain, 0, '0.0.0.0');
    plainPort = (plain.address() as { port: number }).port;
    sock.maps.meshCidrs.updateMany(meshed.map((k) => [k, 1] as const));
    sock.maps.meshConfig.update(0, meshOn(1));
  });
  afterAll(async () => {
    for (const a of accepted) a.socket.destroy();
    for (const t of tunnels) t.close();
    plain?.close();
    host?.tracker.stop();
    sock?.release();
    try { uninstall(PIN_DIR); } finally { await cg?.destroy(); }
  });

  it('lands A\'s connect to 198.51.100.10:8080 at the tunnel listener, which learns destination and caller once', async () => {
    const w = await run.python(A, meshConnect('198.51.100.10', 8080));
    const port = await clientPort(w);
    const a = await acceptedFrom(port);
    expect(a.remoteAddress).toBe('127.0.0.1');
    expect(a.origin).toMatchObject({ family: 4, address: '198.51.100.10', port: 8080, sourceId: A, process: { tgid: w.pid }, cgroupId: cg.id });
    const startTicks = Number(readFileSync(`/proc/${w.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19]);
    expect(Number((a.origin?.process.startNs ?? 0n) / 10_000_000n)).toBe(startTicks); // the same process, not only the pid
    expect(a.again).toBeUndefined(); // taken by the first look-up
    expect((await w.line('ok ')).split(' ').slice(2)).toEqual(['127.0.0.1', String(tunnelPort)]); // getpeername: no hook restores it yet
    await waitFor('the workload\'s bytes at the listener', () => a.data === 'ping');
    w.say('');
    await w.done;
    expect(sock.maps.meshOrigins.entries()).toEqual([]);
  });

  it('sends a v4-mapped destination to 127.0.0.1 (IPv4 origin) and an IPv6 one to ::1', async () => {
    const mapped = await run.python(A, meshConnect('::ffff:198.51.100.20', 80));
    const m = await acceptedFrom(await clientPort(mapped));
    expect([m.remoteAddress, m.origin?.family, m.origin?.address, m.origin?.port]).toEqual(['127.0.0.1', 4, '198.51.100.20', 80]);
    const six = await run.python(undefined, meshConnect('2001:db8::10', 443));
    const s = await acceptedFrom(await clientPort(six));
    expect(s.remoteAddress).toBe('::1');
    expect(s.origin).toMatchObject({ family: 6, address: '2001:db8::10', port: 443, sourceId: 0, process: { tgid: six.pid } });
    for (const w of [mapped, six]) { w.say(''); await w.done; }
  });

  it('never redirects a local destination, even one in mesh_cidrs, nor a remote outside them', async () => {
    const loop = meshCidrKey({ port: 0, family: 4, address: v4('127.0.0.0'), prefixLength: 8 });
    const before = accepted.length;
    sock.maps.meshCidrs.update(loop, 1);
    try {
      expect(await run.connect(A, '127.0.0.1', plainPort)).toBe('ok');
    } finally {
      sock.maps.meshCidrs.delete(loop);
    }
    const address = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && isIPv4(i.address))?.address;
    expect(address, 'a non-loopback IPv4 address on this host').toBeDefined();
    expect(await run.connect(A, address as string, plainPort)).toBe('ok'); // not in local_addrs: a remote, not meshed
    await waitFor('both at the plain server', () => plainCount >= 2);
    expect(accepted.length).toBe(before);
  });

  it('decides policy first: a denied caller gets EPERM and reaches nothing; an allowed one is redirected', async () => {
    const rule = cidrKey({ src: A, port: 8080, generation: 0, family: 4, address: v4('198.51.100.0'), prefixLength: 24 });
    sock.maps.cidrs.update(rule, 1);
    sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
    const before = accepted.length;
    try {
      expect(await run.connect(C, '198.51.100.10', 8080)).toBe('EPERM');
      expect(await run.connect(undefined, '198.51.100.10', 8080)).toBe('EPERM');
      expect(accepted.length).toBe(before);
      const w = await run.python(A, meshConnect('198.51.100.10', 8080));
      expect((await acceptedFrom(await clientPort(w))).origin).toMatchObject({ sourceId: A, address: '198.51.100.10', port: 8080 });
      w.say('');
      await w.done;
    } finally {
      sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 0, agentTgid: 0 });
      sock.maps.cidrs.delete(rule);
    }
  });

  it('leaves the agent\'s own connects alone: neither judged (unidentified: deny) nor redirected', async () => {
    const before = accepted.length;
    const agent = await run.python(undefined, `sys.stdin.readline()\n${meshConnect('198.51.100.10', 8080, 2)}`);
    sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: agent.pid });
    try {
      expect(await run.connect(undefined, '198.51.100.10', 8080)).toBe('EPERM'); // any other unidentified process
      agent.say('');
      const out = await waitFor('the agent\'s connect', () => agent.output().split('\n')[0] || undefined);
      expect(out).not.toBe('EPERM');
      if (out.startsWith('ok ')) { // this machine's network answers any address: the one named, not the tunnel
        expect(out.split(' ').slice(2)).toEqual(['198.51.100.10', '8080']);
        agent.say('');
      }
      await agent.done;
      expect(accepted.length).toBe(before);
    } finally {
      sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 0, agentTgid: 0 });
    }
  });

  it('drops an origin the agent never took when the connection closes', async () => {
    take = false;
    try {
      const w = await run.python(A, meshConnect('198.51.100.30', 8080));
      const a = await acceptedFrom(await clientPort(w));
      const key = { family: 4, port: a.remotePort, addr: Buffer.concat([v4('127.0.0.1'), Buffer.alloc(12)]) };
      expect(sock.maps.meshOrigins.lookup(key)).toMatchObject({ port: 8080, srcId: A, tgid: w.pid });
      w.say('');
      await w.done;
      a.socket.destroy(); // both ends closed: the client's socket reaches TCP_CLOSE
      await waitFor('the origin gone with its socket', () => sock.maps.meshOrigins.lookup(key) === undefined);
    } finally {
      take = true;
    }
  });

  it('never redirects a connect to a meshed remote on the peer agents\' port, only the other ports', async () => {
    const before = accepted.length;
    const w = await run.python(A, meshConnect('198.51.100.10', PEER_PORT, 2));
    const out = await waitFor('the outcome', () => w.output().split('\n')[0] || undefined);
    if (out.startsWith('ok ')) { // this machine's network may answer (see below): the address named
      expect(out.split(' ').slice(2)).toEqual(['198.51.100.10', String(PEER_PORT)]);
      w.say('');
    }
    await w.done;
    expect(accepted.length).toBe(before);
    const other = await run.python(A, meshConnect('198.51.100.10', PEER_PORT + 1));
    expect((await acceptedFrom(await clientPort(other))).origin).toMatchObject({ address: '198.51.100.10', port: PEER_PORT + 1 });
    other.say('');
    await other.done;
  });

  it('redirects nothing while the mesh is disabled', async () => {
    const before = accepted.length;
    sock.maps.meshConfig.update(0, meshOn(0));
    try {
      // This machine's network may answer any address (a transparent proxy here): the connect
      // can succeed, but to the address it named, never the tunnel listener.
      const w = await run.python(A, meshConnect('198.51.100.10', 8080, 2));
      const out = await waitFor('the outcome', () => w.output().split('\n')[0] || undefined);
      if (out.startsWith('ok ')) {
        expect(out.split(' ').slice(2)).toEqual(['198.51.100.10', '8080']);
        w.say('');
      }
      await w.done;
      expect(accepted.length).toBe(before);
    } finally {
      sock.maps.meshConfig.update(0, meshOn(1));
    }
  });
});
