import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { NetnsHosts, type NetnsHost } from '../support/netns-hosts.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';
import { DEST_PY, ECHO_HOLD_PY, PUT_PY, TUNNEL_CLIENT_MJS, sample, until } from '../support/mesh-peers.js';
import { importIssuer, leaf } from '../support/x509-certs.js';

// Inside ../shared/vm/vm-run (Debian 6.1 with tls.ko; QEMU TCG, 1 vCPU: everything is 10-40x
// slower and TLS crypto is emulated), the two hosts through REAL agents, as
// test/e2e/mesh-agents.test.ts runs them on the kTLS-less build hosts: network namespaces A and B
// joined by a veth, one `tether agent run` in each (its own child cgroup, pin dir, state), one
// upstream root made by openssl, mesh on. Here both agents must find kTLS and every tunnel must
// switch to it: what each agent reports, what each namespace's /proc/net/tls_stat counts, what the
// veth carries, and that a wrong record sequence number fails closed at both ends.
const PY = realpathSync('/usr/bin/python3');
const NODE = realpathSync(process.execPath);
const CURL = realpathSync('/usr/bin/curl');
const CLIENT = 'spiffe://example.org/client';
const SERVER = 'spiffe://example.org/server';
const DEST_PORT = 8000;
const TUNNEL_PORT = 15008;
const OUTBOUND_PORT = 15001;
const BIG = 16 << 20;
/** Generous under TCG: a handshake with P-256 signatures and chain checks takes seconds here. */
const HANDSHAKE_MS = 60_000;
const SLOW = 180_000;

interface Tunnel { side: string; sourceId: string | null; destId: string | null; original: string; peer: string; mode: string; bytesToDestination: number; bytesFromDestination: number }
interface ClientEvent { kind: string; side: string; reason: string | null; message: string | null; destId: string | null; bytes: { toDestination: number; fromDestination: number } | null }
interface ClientRun { mode: string | null; opened: boolean | null; error: string | null; received: string; events: ClientEvent[]; tunnels: Array<{ side: string; mode: string }> }

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Random bytes with `marker` every 4 KiB: a capture that held any plaintext would show it. */
function markedPayload(marker: string): Buffer {
  const b = randomBytes(BIG);
  for (let at = 0; at + marker.length <= b.length; at += 4096) b.write(marker, at, 'latin1');
  return b;
}

describe('mesh on Debian 6.1: two hosts, a real agent each, tunnels in kTLS (vm-run)', () => {
  let work: string;
  let hosts: NetnsHosts | undefined;
  let cgA: TestCgroup | undefined;
  let cgB: TestCgroup | undefined;
  let a: AgentProcess | undefined;
  let b: AgentProcess | undefined;
  let dest: ChildProcess;
  let destOut = '';
  let A: string;
  let B: string;
  let up: Buffer;
  let down: Buffer;
  const markers = { up: `UP-PLAINTEXT-${randomBytes(6).toString('hex')}`, down: `DOWN-PLAINTEXT-${randomBytes(6).toString('hex')}`, echo: `ECHO-PLAINTEXT-${randomBytes(6).toString('hex')}` };
  const children: ChildProcess[] = [];
  const file = (name: string): string => join(work, name);
  const agentA = (): AgentProcess => a as AgentProcess;
  const agentB = (): AgentProcess => b as AgentProcess;
  const h = (): NetnsHosts => hosts as NetnsHosts;
  const log = (agent: AgentProcess | undefined): string => (agent === undefined ? '' : (agent.stdout + agent.stderr).slice(-3000));

  const config = (): string => `ca:
  upstream: {certFile: ${file('root.pem')}, keyFile: ${file('root.key')}}
mesh:
  cidrs: [${A.replace(/\.1$/, '.0')}/24]
  ports: [${DEST_PORT}]
  port: ${TUNNEL_PORT}
  outboundPort: ${OUTBOUND_PORT}
  inbound: strict
  handshakeTimeoutMs: ${HANDSHAKE_MS}
`;
  const policy = `mode: enforce\nunidentified: allow\nrules:\n  - from: ${CLIENT}\n    to: ${SERVER}\n    ports: [${DEST_PORT}]\n`;
  // By cgroup, not by program: the guest's root is an overlayfs (9p lower layer), where stat()
  // gives the lower layer's st_dev while the exec hook reads the overlay's superblock, so a
  // unix:path entry never matches at exec (/tmp/vm-mesh-notes.md). Every process started in the
  // host's test cgroup is that host's workload.
  const entries = (id: string, cg: TestCgroup): string => `entries:\n  - spiffeId: ${id}\n    selectors: ["cgroup:path:${cg.relPath}"]\n`;

  const listening = async (host: NetnsHost, port: number): Promise<boolean> =>
    (await h().exec(host, ['ss', '-Hltn', `sport = :${port}`])).stdout.trim() !== '';

  const startAgent = async (host: NetnsHost, cg: TestCgroup, name: string, id: string): Promise<AgentProcess> => {
    writeFileSync(file(`${name}-config.yaml`), config());
    writeFileSync(file(`${name}-policy.yaml`), policy);
    const agent = await AgentProcess.start(entries(id, cg),
      ['--config', file(`${name}-config.yaml`), '--policy', file(`${name}-policy.yaml`), '--cgroup', cg.path], 240_000, { netns: host.name });
    try {
      await until(`${name}'s tunnel listeners`, async () => (await listening(host, TUNNEL_PORT)) && (await listening(host, OUTBOUND_PORT)), 120_000,
        () => log(agent));
    } catch (err) {
      await agent.stop();
      throw err;
    }
    return agent;
  };

  const metrics = async (host: NetnsHost, agent: AgentProcess): Promise<string> => {
    const r = await h().exec(host, [CURL, '-sS', '--max-time', '30', `http://127.0.0.1:${agent.metricsPort}/metrics`]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };
  const json = <T>(agent: AgentProcess, args: readonly string[]): T => {
    const r = agent.cli([...args, '--output', 'json']);
    expect(r.status, `tether ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as T;
  };
  const tunnels = (agent: AgentProcess): Tunnel[] => json<{ tunnels: Tunnel[] }>(agent, ['conns']).tunnels;

  /** /proc/net/tls_stat of a host: kTLS counts per network namespace, so read from inside it. */
  const tlsStat = async (host: NetnsHost): Promise<Record<string, number>> => {
    const r = await h().exec(host, ['cat', '/proc/net/tls_stat']);
    expect(r.code, r.stderr).toBe(0);
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => {
      const [k, v] = l.trim().split(/\s+/);
      return [k as string, Number(v)];
    }));
  };
  const delta = (after: Record<string, number>, before: Record<string, number>, key: string): number => {
    expect(after[key], `tls_stat has ${key}`).toBeTypeOf('number');
    return (after[key] as number) - (before[key] as number);
  };

  /** The destination's `end` lines after the first `from` ones. */
  const destEnds = (from = 0): Array<{ conn: number; mode: string; bytes: number; end: string }> =>
    destOut.split('\n').filter((l) => l.startsWith('end ')).slice(from).map((l) => {
      const [, conn, mode, bytes, end] = l.split(' ');
      return { conn: Number(conn), mode: mode as string, bytes: Number(bytes), end: end as string };
    });

  /** Our own tunnel client (agent/mesh's TunnelClient, kTLS) in A's namespace, outside A's cgroup, against B's agent. */
  const tunnelClient = async (send: string, expectBytes: number, rxSeqSkew?: number): Promise<ClientRun> => {
    const build = join(packageRoot(), 'build', 'agent');
    const o = {
      modules: Object.fromEntries(['mesh', 'kernel', 'spiffe'].map((m) => [m, pathToFileURL(join(build, m, 'index.js')).href])),
      trustDomain: 'example.org', root: file('root.pem'), cert: file('client.pem'), key: file('client.key'),
      host: B, port: DEST_PORT, tunnelPort: TUNNEL_PORT, send, expect: expectBytes, timeoutMs: 150_000,
      ...(rxSeqSkew === undefined ? {} : { rxSeqSkew: String(rxSeqSkew) }),
    };
    const r = await h().exec(h().a, [NODE, file('tunnel-client.mjs'), JSON.stringify(o)]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ClientRun;
  };

  /** A python client in A's cgroup that ECHOes `text` through the tunnel and holds the connection until release(). */
  const hold = async (text: string): Promise<{ release: () => Promise<string> }> => {
    const holder = h().run(h().a, [PY, '-c', ECHO_HOLD_PY, B, String(DEST_PORT), text], { cgroup: cgA?.path });
    children.push(holder);
    let out = '';
    let err = '';
    holder.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    holder.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    await waitFor('the held connection\'s echo', () => out.includes(`held ${text.length}`) || (holder.exitCode !== null && (() => {
      throw new Error(`the client exited: ${err}\nA: ${log(a)}\nB: ${log(b)}`);
    })()), SLOW);
    return {
      release: async () => {
        holder.stdin?.end('\n');
        expect(await exited(holder), err).toBe(0);
        return out;
      },
    };
  };

  beforeAll(async () => {
    expect(process.env.VM_RUN, 'run this suite inside ../shared/vm/vm-run').toBe('1');
    expect(release()).toMatch(/^6\.1\./);
    work = mkdtempSync(join(tmpdir(), 'tether-vm-mesh-agents-'));
    chmodSync(work, 0o755);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', file('root.key'), '-out', file('root.pem'), '-subj', '/CN=mesh shared root', '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectAltName=URI:spiffe://example.org'], { stdio: 'ignore' });
    const root = await importIssuer(readFileSync(file('root.pem'), 'utf8'), readFileSync(file('root.key'), 'utf8'));
    const client = await leaf(root, CLIENT); // the client's identity from the shared root, as A's agent would present it
    writeFileSync(file('client.pem'), client.pem);
    writeFileSync(file('client.key'), client.keyPem, { mode: 0o600 });
    writeFileSync(file('tunnel-client.mjs'), TUNNEL_CLIENT_MJS);
    up = markedPayload(markers.up);
    down = markedPayload(markers.down);
    writeFileSync(file('up.bin'), up);
    writeFileSync(file('down.bin'), down);

    hosts = NetnsHosts.create();
    A = hosts.a.address;
    B = hosts.b.address;
    // The veth carries TCP in this guest before anything of ours is attached.
    const veth = hosts.run(hosts.b, [PY, '-c', `import socket\ns = socket.create_server(("${B}", 7000))\nprint("up", flush=True)\nc, _ = s.accept()\nc.sendall(b"veth-ok")\nc.close()`]);
    children.push(veth);
    let said = '';
    veth.stdout?.on('data', (d: Buffer) => { said += d.toString(); });
    await waitFor('the veth check\'s listener', () => said.includes('up'), 60_000);
    const reached = await hosts.exec(hosts.a, [PY, '-c', `import socket\nprint(socket.create_connection(("${B}", 7000), timeout=30).recv(16).decode())`]);
    expect(reached.stdout.trim(), reached.stderr).toBe('veth-ok');
    await exited(veth);

    cgA = TestCgroup.create('tether-vm-mesh-a');
    cgB = TestCgroup.create('tether-vm-mesh-b');
    const [startedA, startedB] = await Promise.allSettled([
      startAgent(hosts.a, cgA, 'a', CLIENT),
      startAgent(hosts.b, cgB, 'b', SERVER),
    ]);
    if (startedA.status === 'fulfilled') a = startedA.value; // kept for afterAll even when the other failed
    if (startedB.status === 'fulfilled') b = startedB.value;
    for (const r of [startedA, startedB]) if (r.status === 'rejected') throw r.reason;

    writeFileSync(file('dest.py'), DEST_PY);
    dest = hosts.run(hosts.b, [PY, file('dest.py'), String(DEST_PORT), file('down.bin')], { cgroup: cgB.path }); // identified: its listener is meshed
    children.push(dest);
    dest.stdout?.on('data', (d: Buffer) => { destOut += d.toString(); });
    await waitFor('the destination on B', () => destOut.includes(`listening ${DEST_PORT}`) || (dest.exitCode !== null && (() => {
      throw new Error('the destination exited');
    })()), 60_000);
  }, 600_000);

  afterAll(async () => {
    const problems: unknown[] = [];
    const attempt = async (step: () => unknown): Promise<void> => {
      try { await step(); } catch (err) { problems.push(err); }
    };
    for (const c of children) c.kill('SIGKILL');
    await attempt(() => a?.stop()); // SIGTERM, then `tether uninstall` of its pin dir
    await attempt(() => b?.stop());
    await attempt(() => cgA?.destroy());
    await attempt(() => cgB?.destroy());
    await attempt(() => hosts?.destroy());
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`cleanup: ${problems.map(String).join('; ')}`);
  }, 120_000);

  it('both agents probed kTLS at start: `tether status` says mesh.mode ktls, the metric tether_mesh_datapath{mode="ktls"} is 1', async () => {
    for (const [host, agent] of [[h().a, agentA()], [h().b, agentB()]] as const) {
      const status = json<{ mesh: { mode: string; detail: string; port: number } }>(agent, ['status']);
      expect(status.mesh, status.mesh.detail).toMatchObject({ mode: 'ktls', port: TUNNEL_PORT });
      const m = await metrics(host, agent);
      expect(sample(m, 'tether_mesh_datapath', { mode: 'ktls' })).toBe(1);
      expect(sample(m, 'tether_mesh_datapath', { mode: 'userspace' })).toBe(0);
    }
  });

  it('16 MiB each way through the tunnel byte-exact; both namespaces\' tls_stat count a kTLS socket each way; the veth shows no identity and no payload', async () => {
    const [statA, statB] = [await tlsStat(h().a), await tlsStat(h().b)];
    const [mA, mB] = [await metrics(h().a, agentA()), await metrics(h().b, agentB())];
    const ends = destEnds().length;
    const pcap = file('wire.pcap');
    const dump = h().run(h().a, ['tcpdump', '-i', h().a.veth, '-B', '65536', '-U', '--immediate-mode', '-Z', 'root', '-w', pcap, 'tcp']);
    children.push(dump);
    let said = '';
    dump.stderr?.on('data', (d: Buffer) => { said += d.toString(); });
    await waitFor('tcpdump to listen', () => said.includes('listening on'), 60_000);
    let got: { code: number | null; stdout: string; stderr: string };
    try {
      got = await h().exec(h().a, [PY, '-c', PUT_PY, B, String(DEST_PORT), file('up.bin')], { cgroup: cgA?.path });
      await sleep(1_000); // the closing records reach the capture
    } finally {
      dump.kill('SIGINT');
      await exited(dump);
    }
    expect(got.code, `${got.stderr}\nA: ${log(a)}\nB: ${log(b)}`).toBe(0);
    expect(got.stdout.trim()).toBe(`got ${BIG} ${sha(down)}`);
    const done = await until('the destination\'s end of the PUT', async () => destEnds(ends).find((e) => e.mode === 'PUT'), SLOW, () => destOut);
    expect(done).toMatchObject({ bytes: BIG, end: 'eof' });
    expect(destOut).toContain(`put ${done.conn} ${BIG} ${sha(up)}`);

    // Both ends relayed in kTLS: one kTLS socket per namespace (TX and RX), none failed to decrypt, all closed again.
    const [afterA, afterB] = await until('both kTLS sockets closed', async () => {
      const s = [await tlsStat(h().a), await tlsStat(h().b)];
      return s.every((x, i) => x.TlsCurrTxSw === [statA, statB][i]?.TlsCurrTxSw && x.TlsCurrRxSw === [statA, statB][i]?.TlsCurrRxSw)
        && (s as [Record<string, number>, Record<string, number>]);
    }, SLOW, () => 'tls_stat');
    for (const [after, before] of [[afterA, statA], [afterB, statB]] as const) {
      expect(delta(after, before, 'TlsTxSw')).toBeGreaterThanOrEqual(1);
      expect(delta(after, before, 'TlsRxSw')).toBeGreaterThanOrEqual(1);
      expect(delta(after, before, 'TlsDecryptError')).toBe(0);
    }
    // The agents counted the bytes exactly (each tunnel's, when it ended): "PUT\n" and the file up, the file down.
    const m2 = await until('B to count the ended tunnel', async () => {
      const m = [await metrics(h().a, agentA()), await metrics(h().b, agentB())] as const;
      return sample(m[1], 'tether_mesh_tunnels_open', { side: 'server' }) === 0 && sample(m[0], 'tether_mesh_tunnels_open', { side: 'client' }) === 0 && m;
    }, SLOW);
    const bytes = (m: string, side: string, direction: string): number => sample(m, 'tether_mesh_bytes_total', { side, direction });
    expect(bytes(m2[0], 'client', 'to_destination') - bytes(mA, 'client', 'to_destination')).toBe(BIG + 4);
    expect(bytes(m2[0], 'client', 'from_destination') - bytes(mA, 'client', 'from_destination')).toBe(BIG);
    expect(bytes(m2[1], 'server', 'to_destination') - bytes(mB, 'server', 'to_destination')).toBe(BIG + 4);
    expect(bytes(m2[1], 'server', 'from_destination') - bytes(mB, 'server', 'from_destination')).toBe(BIG);
    expect(sample(m2[1], 'tether_mesh_refusals_total', { side: 'server' })).toBe(sample(mB, 'tether_mesh_refusals_total', { side: 'server' }));

    // The wire: TLS to 15008 both ways, nothing to the destination's port, no identity, no payload, no CONNECT line.
    const lines = (filter: string): string[] => execFileSync('tcpdump', ['-nr', pcap, '-c', '5', filter], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n').filter(Boolean);
    expect(lines(`src host ${A} and tcp dst port ${TUNNEL_PORT} and greater 200`).length).toBeGreaterThan(0);
    expect(lines(`src host ${B} and tcp src port ${TUNNEL_PORT} and greater 200`).length).toBeGreaterThan(0);
    expect(lines(`tcp port ${DEST_PORT}`)).toEqual([]);
    const wire = readFileSync(pcap);
    expect(wire.length).toBeGreaterThan(BIG); // the transfer was captured (a 64 MiB buffer: TCG may still drop some)
    expect(wire.includes(`p${DEST_PORT}.tether`), 'the SNI, the one name in clear').toBe(true);
    for (const clear of ['spiffe://', markers.up, markers.down, `CONNECT ${B}`]) expect(wire.includes(clear), clear).toBe(false);
  });

  it('a held connection is one kTLS tunnel in `tether conns` on each host, both identities and live bytes; each namespace holds one kTLS socket meanwhile', async () => {
    const [statA, statB] = [await tlsStat(h().a), await tlsStat(h().b)];
    const held = await hold(markers.echo);
    try {
      const mine = (t: Tunnel, side: string): boolean => t.side === side && t.sourceId === CLIENT && t.destId === SERVER
        && t.bytesToDestination > 0 && t.bytesFromDestination > 0;
      const atA = await until('A\'s tunnel in tether conns', async () => tunnels(agentA()).find((t) => mine(t, 'client')), SLOW, () => JSON.stringify(tunnels(agentA())));
      const atB = await until('B\'s tunnel in tether conns', async () => tunnels(agentB()).find((t) => mine(t, 'server')), SLOW, () => JSON.stringify(tunnels(agentB())));
      expect(atA).toMatchObject({ mode: 'ktls', original: `${B}:${DEST_PORT}`, peer: `${B}:${TUNNEL_PORT}`, bytesToDestination: 5 + markers.echo.length, bytesFromDestination: markers.echo.length });
      expect(atB).toMatchObject({ mode: 'ktls', original: `${B}:${DEST_PORT}`, bytesToDestination: 5 + markers.echo.length, bytesFromDestination: markers.echo.length });
      expect(atB.peer).toMatch(new RegExp(`^${A.replace(/\./g, '\\.')}:\\d+$`));
      for (const [now, before] of [[await tlsStat(h().a), statA], [await tlsStat(h().b), statB]] as const) {
        expect(delta(now, before, 'TlsCurrTxSw')).toBe(1);
        expect(delta(now, before, 'TlsCurrRxSw')).toBe(1);
      }
      expect(sample(await metrics(h().a, agentA()), 'tether_mesh_tunnels_open', { side: 'client' })).toBe(1);
      expect(sample(await metrics(h().b, agentB()), 'tether_mesh_tunnels_open', { side: 'server' })).toBe(1);
    } finally {
      expect(await held.release()).toContain('closed');
    }
    await until('the held tunnel gone from both hosts', async () => tunnels(agentA()).length === 0 && tunnels(agentB()).length === 0, SLOW);
    const last = destEnds().filter((e) => e.mode === 'ECHO').at(-1);
    expect(last).toMatchObject({ bytes: markers.echo.length, end: 'eof' });
  });

  it('a wrong RX sequence number (our kTLS TunnelClient, rxSeqSkew 1) fails closed: our workload and B\'s destination are reset, B stays up', async () => {
    const [statA, statB] = [await tlsStat(h().a), await tlsStat(h().b)];
    const mB = await metrics(h().b, agentB());
    const ends = destEnds().length;
    const loggedB = (b?.stdout.length ?? 0) + (b?.stderr.length ?? 0);
    const run = await tunnelClient(`ECHO\nnever-${markers.echo}`, 1, 1);
    expect(run.mode).toBe('ktls');
    expect(run.opened).toBe(false);
    expect([run.error, run.received]).toEqual(['ECONNRESET', '']);
    expect(run.events.map((e) => [e.side, e.kind])).toEqual([['client', 'failed']]);
    expect(run.events[0]).toMatchObject({ reason: 'TLS_FAILED', destId: SERVER });
    expect(run.events[0]?.message).toMatch(/EBADMSG/);
    expect(delta(await tlsStat(h().a), statA, 'TlsDecryptError')).toBeGreaterThanOrEqual(1); // the client's first record (a ticket) did not decrypt

    // B had dialled the destination before OK: the failed switch resets it, and B's half-switched socket is gone.
    const reset = await until('the destination\'s end of the failed tunnel', async () => destEnds(ends).find((e) => e.mode === 'none'), SLOW, () => destOut);
    expect(reset).toMatchObject({ bytes: 0, end: 'reset' });
    const mB2 = await until('B to count the failed tunnel', async () => {
      const m = await metrics(h().b, agentB());
      return sample(m, 'tether_mesh_tunnels_total', { side: 'server', result: 'failed' }) > sample(mB, 'tether_mesh_tunnels_total', { side: 'server', result: 'failed' }) && m;
    }, SLOW, () => log(b));
    expect(sample(mB2, 'tether_mesh_tunnels_total', { side: 'server', result: 'opened' })).toBe(sample(mB, 'tether_mesh_tunnels_total', { side: 'server', result: 'opened' }));
    await until('B\'s log to name the broken switch', async () => (b === undefined ? '' : b.stdout + b.stderr).slice(loggedB).includes('tunnel refused'), SLOW, () => log(b));
    await until('B\'s half-switched kTLS socket closed', async () => {
      const s = await tlsStat(h().b);
      return s.TlsCurrRxSw === statB.TlsCurrRxSw && s.TlsCurrTxSw === statB.TlsCurrTxSw;
    }, SLOW);
    expect(agentB().child.exitCode).toBeNull();
    expect(agentA().child.exitCode).toBeNull();
  });

  it('afterwards good tunnels still work: our kTLS TunnelClient without the skew, and A\'s agent for a workload in A\'s cgroup', async () => {
    const text = `ECHO\nagain-${markers.echo}`;
    const run = await tunnelClient(text, text.length - 5);
    expect(run.error).toBeNull();
    expect(run.received).toBe(`again-${markers.echo}`);
    expect(run.tunnels).toEqual([{ side: 'client', mode: 'ktls' }]);
    expect(run.events.map((e) => [e.side, e.kind, e.reason])).toEqual([['client', 'opened', null], ['client', 'closed', null]]);
    expect(run.events[1]?.bytes).toEqual({ toDestination: text.length, fromDestination: text.length - 5 });
    const held = await hold(`${markers.echo}-after`);
    expect(await held.release()).toContain('closed');
    expect(agentB().child.exitCode).toBeNull();
    const status = json<{ mesh: { mode: string } }>(agentB(), ['status']);
    expect(status.mesh.mode).toBe('ktls');
  });
});
