import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../support/agent-process.js';
import { NetnsHosts, type NetnsHost } from '../support/netns-hosts.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';
import { FETCH_PY, HOLD_PY, PROBE_MJS, sample, until, type ProbeResult, type ProbeSpec } from '../support/mesh-peers.js';
import { importIssuer, leaf, type Issued } from '../support/x509-certs.js';

// The issue's two hosts through real agents (../shared/acceptance/mesh.sh, in vitest): network
// namespaces A and B joined by a veth, one agent in each (its own cgroup, pins, state, metrics on
// its namespace's loopback), one upstream root made by openssl. curl on A (in A's cgroup) reaches
// python's http.server on B (in B's cgroup) only through the tunnel; then what the wire shows,
// what both agents report, strict and permissive inbound, bad peers against B's tunnel port, a
// transfer across CA rotations on both agents, and B's policy deciding.
const PY = realpathSync('/usr/bin/python3');
const CURL = realpathSync('/usr/bin/curl');
const NODE = realpathSync(process.execPath);
const CLIENT = 'spiffe://example.org/client';
const SERVER = 'spiffe://example.org/server';
/** Ports inside the test's own namespaces: nothing else listens there, and none is ephemeral. */
const HTTP_PORT = 8000;
const TUNNEL_PORT = 15008;
const OUTBOUND_PORT = 15001;
const BIG = 64 << 20;
const SVID_TTL_SECONDS = 10;
/** B's mesh.handshakeTimeoutMs: the stalling peers below are dropped after it. */
const B_HANDSHAKE_MS = 2_000;

interface Tunnel {
  since: string; side: string; sourceId: string | null; destId: string | null; original: string; peer: string; mode: string;
  bytesToDestination: number; bytesFromDestination: number; ageSeconds: number;
}
interface EventRow { kind?: string; verdict: string; from: string | null; to: string | null; destination: string; reason?: string }

const count = (text: string, word: string): number => text.split(word).length - 1;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('mesh: two hosts, one agent each, one shared root', () => {
  let work: string;
  let hosts: NetnsHosts;
  let cgA: TestCgroup;
  let cgB: TestCgroup;
  let a: AgentProcess;
  let b: AgentProcess;
  let server: ChildProcess | undefined;
  let root: Issued;
  let marker: string;
  let bigSha: string;
  let A: string;
  let B: string;
  const children: ChildProcess[] = [];
  const file = (name: string): string => join(work, name);

  const policy = (withRule: boolean): string => `mode: enforce\nunidentified: allow\nrules:${withRule ? `
  - from: ${CLIENT}
    to: ${SERVER}
    ports: [${HTTP_PORT}]` : ' []'}\n`;
  const config = (inbound: 'strict' | 'permissive', handshakeMs?: number): string => `ca:
  upstream: {certFile: ${file('root.pem')}, keyFile: ${file('root.key')}}
mesh:
  cidrs: [${A.replace(/\.1$/, '.0')}/24]
  ports: [${HTTP_PORT}]
  port: ${TUNNEL_PORT}
  outboundPort: ${OUTBOUND_PORT}
  inbound: ${inbound}
${handshakeMs === undefined ? '' : `  handshakeTimeoutMs: ${handshakeMs}\n`}`;
  // SVIDs of 10 s, re-minted every ~5 s: tunnels open across SVID rotations all along, and one
  // minted after `tether ca rotate` comes from the new intermediate soon.
  const entries = (id: string, exes: readonly string[]): string => `entries:\n${exes.map((exe) =>
    `  - spiffeId: ${id}\n    selectors: ["unix:uid:0", "unix:path:${exe}"]\n    x509SvidTtl: ${SVID_TTL_SECONDS}\n`).join('')}`;

  const startAgent = async (host: NetnsHost, cg: TestCgroup, name: string, id: string, exes: readonly string[], inbound: 'strict' | 'permissive', handshakeMs?: number): Promise<AgentProcess> => {
    writeFileSync(file(`${name}-config.yaml`), config(inbound, handshakeMs));
    const agent = await AgentProcess.start(entries(id, exes),
      ['--config', file(`${name}-config.yaml`), '--policy', file(`${name}-policy.yaml`), '--cgroup', cg.path], 60_000, { netns: host.name });
    try {
      await until(`${name}'s tunnel listeners`, async () => (await listening(host, TUNNEL_PORT)) && (await listening(host, OUTBOUND_PORT)), 20_000,
        () => agent.stdout.slice(-1500) + agent.stderr.slice(-1500));
    } catch (err) {
      await agent.stop();
      throw err;
    }
    return agent;
  };
  const listening = async (host: NetnsHost, port: number): Promise<boolean> =>
    (await hosts.exec(host, ['ss', '-Hltn', `sport = :${port}`])).stdout.trim() !== '';

  /** http.server on B, in B's cgroup (identified at exec, its listener by bind), on every address. */
  const startServer = async (): Promise<void> => {
    server = hosts.run(hosts.b, [PY, '-m', 'http.server', String(HTTP_PORT), '--bind', '0.0.0.0', '--directory', file('www'), '--protocol', 'HTTP/1.1'],
      { cgroup: cgB.path, stdio: 'ignore' });
    children.push(server);
    // From B's own namespace, outside B's cgroup: a local connection, not one from host A.
    await until('http.server on B', async () => (await hosts.exec(hosts.b, [CURL, '-s', '-o', '/dev/null', `http://127.0.0.1:${HTTP_PORT}/marker.txt`])).code === 0);
  };

  /** curl on host A: in A's cgroup (meshed) unless `meshed` is false (a process the agent does not manage). */
  const curl = (path: string, meshed = true, maxTime = 10): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    hosts.exec(hosts.a, [CURL, '-sS', '--max-time', String(maxTime), `http://${B}:${HTTP_PORT}${path}`], meshed ? { cgroup: cgA.path } : {});

  const metrics = async (host: NetnsHost, agent: AgentProcess): Promise<string> => {
    const r = await hosts.exec(host, [CURL, '-sS', '--max-time', '5', `http://127.0.0.1:${agent.metricsPort}/metrics`]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };
  const json = <T>(agent: AgentProcess, args: readonly string[]): T => {
    const r = agent.cli([...args, '--output', 'json']);
    expect(r.status, `tether ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as T;
  };
  const events = (agent: AgentProcess): EventRow[] => {
    const r = agent.cli(['events', '--output', 'json', '--limit', '1000']);
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as EventRow);
  };
  const tunnels = (agent: AgentProcess): Tunnel[] => json<{ tunnels: Tunnel[] }>(agent, ['conns']).tunnels;
  const activeIntermediate = (agent: AgentProcess): string => {
    const shown = json<{ x509: Array<{ state: string; intermediate: { fingerprintSha256: string } }> }>(agent, ['ca', 'show']);
    const fp = shown.x509.find((x) => x.state === 'active')?.intermediate.fingerprintSha256;
    if (fp === undefined) throw new Error(`no active intermediate: ${JSON.stringify(shown)}`);
    return fp;
  };
  const log = (agent: AgentProcess): string => agent.stdout + agent.stderr;

  const probe = async (spec: ProbeSpec): Promise<ProbeResult> => {
    const b64 = (v: string | Buffer | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString('base64'));
    const o = {
      tls: spec.tls, host: B, port: TUNNEL_PORT, sni: `p${HTTP_PORT}.tether`, timeoutMs: 15_000, send: b64(spec.send), afterOk: b64(spec.afterOk),
      ...(spec.cert === undefined ? {} : { cert: file(`${spec.cert}.pem`), key: file(`${spec.cert}.key`) }),
    };
    const r = await hosts.exec(hosts.a, [NODE, file('probe.mjs'), JSON.stringify(o)]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ProbeResult;
  };
  const CONNECT = (): string => `CONNECT ${B}:${HTTP_PORT}\n`;
  const GET = `GET /marker.txt HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n`;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tether-e2e-mesh-'));
    chmodSync(work, 0o755);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', file('root.key'), '-out', file('root.pem'), '-subj', '/CN=mesh shared root', '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectAltName=URI:spiffe://example.org'], { stdio: 'ignore' });
    root = await importIssuer(readFileSync(file('root.pem'), 'utf8'), readFileSync(file('root.key'), 'utf8'));
    const hourAgo = new Date(Date.now() - 3_600_000);
    const peers: Record<string, Issued> = {
      client: await leaf(root, CLIENT),
      foreign: await leaf(root, 'spiffe://other.org/client'),
      expired: await leaf(root, CLIENT, { notBefore: new Date(hourAgo.getTime() - 3_600_000), notAfter: hourAgo }),
      twoSans: await leaf(root, CLIENT, { uris: [CLIENT, 'spiffe://example.org/other'] }),
    };
    for (const [name, cert] of Object.entries(peers)) {
      writeFileSync(file(`${name}.pem`), cert.pem);
      writeFileSync(file(`${name}.key`), cert.keyPem, { mode: 0o600 });
    }
    writeFileSync(file('probe.mjs'), PROBE_MJS);
    mkdirSync(file('www'));
    marker = `tether-mesh-marker-${randomBytes(8).toString('hex')}`;
    writeFileSync(file('www/marker.txt'), marker);
    const big = randomBytes(BIG);
    bigSha = createHash('sha256').update(big).digest('hex');
    writeFileSync(file('www/big'), big);

    hosts = NetnsHosts.create();
    A = hosts.a.address;
    B = hosts.b.address;
    cgA = TestCgroup.create('tether-e2e-mesh-a');
    cgB = TestCgroup.create('tether-e2e-mesh-b');
    writeFileSync(file('a-policy.yaml'), policy(true));
    writeFileSync(file('b-policy.yaml'), policy(true));
    const [startedA, startedB] = await Promise.allSettled([
      startAgent(hosts.a, cgA, 'a', CLIENT, [CURL, PY], 'strict'),
      startAgent(hosts.b, cgB, 'b', SERVER, [PY], 'strict', B_HANDSHAKE_MS),
    ]);
    if (startedA.status === 'fulfilled') a = startedA.value; // kept for afterAll even when the other failed
    if (startedB.status === 'fulfilled') b = startedB.value;
    for (const r of [startedA, startedB]) if (r.status === 'rejected') throw r.reason;
    await startServer();
  }, 120_000);

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
  }, 60_000);

  it('curl on A gets B\'s page through the tunnel; the wire carries TLS to 15008 only, no identity, no HTTP', async () => {
    const pcap = file('wire.pcap');
    const dump = hosts.run(hosts.a, ['tcpdump', '-i', hosts.a.veth, '-U', '--immediate-mode', '-Z', 'root', '-w', pcap, 'tcp']);
    children.push(dump);
    let said = '';
    dump.stderr?.on('data', (d: Buffer) => { said += d.toString(); });
    await waitFor('tcpdump to listen', () => said.includes('listening on'), 15_000);
    try {
      const page = await curl('/marker.txt');
      expect(page.code, `${page.stderr}\nA: ${log(a).slice(-2000)}\nB: ${log(b).slice(-2000)}`).toBe(0);
      expect(page.stdout).toBe(marker);
      const listing = await curl('/');
      expect(listing.code, listing.stderr).toBe(0);
      expect(listing.stdout).toContain('Directory listing');
      await sleep(300); // the closing handshakes reach the capture
    } finally {
      dump.kill('SIGINT');
      await exited(dump);
    }
    const headers = execFileSync('tcpdump', ['-nr', pcap], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const text = execFileSync('strings', ['-n', '6', pcap], { encoding: 'utf8' });
    expect(headers).toMatch(new RegExp(`${escape(A)}\\.\\d+ > ${escape(B)}\\.${TUNNEL_PORT}: .*length [1-9]`));
    expect(headers).toMatch(new RegExp(`${escape(B)}\\.${TUNNEL_PORT} > ${escape(A)}\\.\\d+: .*length [1-9]`));
    expect(headers).not.toMatch(new RegExp(`\\.${HTTP_PORT}[: ]`));
    expect(text).toContain(`p${HTTP_PORT}.tether`); // the SNI is the one name in clear: strings does see the capture's text
    expect(text).not.toContain('spiffe://');
    expect(text).not.toContain(marker);
    expect(text).not.toMatch(/GET \/|HTTP\/1\.|Directory listing/);
  });

  it('a held connection shows as one tunnel on each host: both identities, the original address, userspace, bytes', async () => {
    let peerAtB = '';
    const holder = hosts.run(hosts.a, [PY, '-c', HOLD_PY, B, String(HTTP_PORT)], { cgroup: cgA.path });
    children.push(holder);
    let out = '';
    holder.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    let err = '';
    holder.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    await waitFor('the held connection\'s response', () => out.includes(`held ${marker.length}`) || (holder.exitCode !== null && (() => {
      throw new Error(`the client exited: ${err}`);
    })()), 15_000);
    try {
      const mine = (t: Tunnel, side: string): boolean => t.side === side && t.sourceId === CLIENT && t.destId === SERVER
        && t.bytesToDestination > 0 && t.bytesFromDestination > 0;
      const atA = await until('A\'s tunnel in tether conns', async () => tunnels(a).find((t) => mine(t, 'client')), 10_000, () => JSON.stringify(tunnels(a)));
      const atB = await until('B\'s tunnel in tether conns', async () => tunnels(b).find((t) => mine(t, 'server')), 10_000, () => JSON.stringify(tunnels(b)));
      expect(atA).toMatchObject({ original: `${B}:${HTTP_PORT}`, peer: `${B}:${TUNNEL_PORT}`, mode: 'userspace' });
      expect(atB).toMatchObject({ original: `${B}:${HTTP_PORT}`, mode: 'userspace' });
      peerAtB = atB.peer;
      expect(atA.bytesFromDestination).toBeGreaterThan(marker.length); // headers and body
      const [ma, mb] = [await metrics(hosts.a, a), await metrics(hosts.b, b)];
      expect(sample(ma, 'tether_mesh_tunnels_open', { side: 'client' })).toBeGreaterThanOrEqual(1);
      expect(sample(mb, 'tether_mesh_tunnels_open', { side: 'server' })).toBeGreaterThanOrEqual(1);
    } finally {
      holder.stdin?.end('\n');
      await exited(holder);
    }
    // Bytes are counted when a tunnel ends: the held one ends a moment after its client.
    const mb = await until('B to count the ended tunnels\' bytes', async () => {
      const m = await metrics(hosts.b, b);
      return sample(m, 'tether_mesh_tunnels_open', { side: 'server' }) === 0 && m;
    });
    const ma = await metrics(hosts.a, a);
    expect(sample(ma, 'tether_mesh_tunnels_total', { side: 'client', result: 'opened' })).toBeGreaterThanOrEqual(3);
    expect(sample(mb, 'tether_mesh_tunnels_total', { side: 'server', result: 'opened' })).toBeGreaterThanOrEqual(3);
    expect(sample(mb, 'tether_mesh_bytes_total', { side: 'server', direction: 'from_destination' })).toBeGreaterThan(marker.length * 3);
    expect(sample(mb, 'tether_mesh_bytes_total', { side: 'server', direction: 'to_destination' })).toBeGreaterThan(0);
    for (const m of [ma, mb]) {
      expect(sample(m, 'tether_mesh_datapath', { mode: 'userspace' })).toBe(1);
      expect(sample(m, 'tether_mesh_datapath', { mode: 'ktls' })).toBe(0);
    }
    for (const agent of [a, b]) {
      const status = json<{ mesh: { mode: string; port: number; inbound: string; cidrs: string[] } }>(agent, ['status']);
      expect(status.mesh).toMatchObject({ mode: 'userspace', port: TUNNEL_PORT, inbound: 'strict' });
    }
    expect(peerAtB).toMatch(new RegExp(`^${escape(A)}:\\d+$`)); // A's agent, as IPv4 (the listener is dual-stack)
  });

  it('strict inbound: a process on A outside A\'s cgroup gets no answer from B\'s port, and B counts it denied', async () => {
    const before = sample(await metrics(hosts.b, b), 'tether_mesh_inbound_direct_total', { verdict: 'denied' });
    const direct = await curl('/marker.txt', false, 3);
    expect(direct.code, direct.stderr).toBe(28); // curl's "timed out": the SYN went unanswered (no reset either)
    expect(direct.stdout).toBe('');
    await until('B to count the direct connection', async () =>
      sample(await metrics(hosts.b, b), 'tether_mesh_inbound_direct_total', { verdict: 'denied' }) > before);
    const row = await until('B\'s inbound event', async () => events(b).find((e) => e.kind === 'inbound' && e.destination === `${B}:${HTTP_PORT}`));
    expect(row).toMatchObject({ verdict: 'deny', to: SERVER });
  });

  describe('bad peers against B\'s tunnel port are refused, each with its reason', () => {
    it.each<[string, string, () => ProbeSpec]>([
      ['a TLS client without a certificate', 'PEER_NO_CERTIFICATE', () => ({ tls: true, send: CONNECT() })],
      ['an SVID of another trust domain', 'PEER_FOREIGN_TRUST_DOMAIN', () => ({ tls: true, cert: 'foreign', send: CONNECT() })],
      ['an expired SVID', 'PEER_INVALID_SVID', () => ({ tls: true, cert: 'expired', send: CONNECT() })],
      ['a certificate with two URI SANs', 'PEER_INVALID_SVID', () => ({ tls: true, cert: 'twoSans', send: CONNECT() })],
      ['a plain-TCP client', 'TLS_FAILED', () => ({ tls: false, send: 'GET / HTTP/1.1\r\nHost: b\r\n\r\n' })],
      ['a garbage CONNECT', 'BAD_CONNECT', () => ({ tls: true, cert: 'client', send: 'CONNECT nonsense\n' })],
      ['an oversized CONNECT', 'BAD_CONNECT', () => ({ tls: true, cert: 'client', send: `CONNECT ${'a'.repeat(300)}:${HTTP_PORT}\n` })],
      ['a peer that stalls mid-handshake', 'TIMEOUT', () => ({ tls: false, send: Buffer.from([0x16, 0x03, 0x01]) })],
      ['a peer that stalls after the handshake, before CONNECT', 'TIMEOUT', () => ({ tls: true, cert: 'client' })],
    ])('%s: %s', async (_name, reason, spec) => {
      const refusals = (m: string): number => sample(m, 'tether_mesh_refusals_total', { side: 'server', reason });
      const before = refusals(await metrics(hosts.b, b));
      const logged = count(log(b), reason);
      const r = await probe(spec());
      expect(r.error).not.toBe('PROBE_TIMEOUT'); // B dropped it
      expect(r.received.startsWith('OK')).toBe(false);
      await until(`B to count ${reason}`, async () => refusals(await metrics(hosts.b, b)) > before, 10_000);
      await waitFor(`B's log to name ${reason}`, () => count(log(b), reason) > logged, 10_000);
      expect(b.child.exitCode).toBeNull();
    });

    it('B stayed up: a tunnel of our own and curl through A\'s agent both work; B presents the server\'s SVID', async () => {
      expect(b.child.exitCode).toBeNull();
      const good = await probe({ tls: true, cert: 'client', send: CONNECT(), afterOk: GET });
      expect(good.received.startsWith('OK\n'), good.received).toBe(true);
      expect(good.received).toContain(marker);
      expect(good.chain[0]?.uri).toBe(`URI:${SERVER}`);
      const page = await curl('/marker.txt');
      expect(page.code, page.stderr).toBe(0);
      expect(page.stdout).toBe(marker);
    });
  });

  it('a 64 MiB transfer through the tunnel survives `tether ca rotate` on both agents byte-exact; later tunnels carry SVIDs of the new intermediate', async () => {
    const oldB = activeIntermediate(b);
    const fetcher = hosts.run(hosts.a, [PY, '-c', FETCH_PY, B, String(HTTP_PORT), '/big', String(16 << 20)], { cgroup: cgA.path });
    children.push(fetcher);
    let out = '';
    let err = '';
    fetcher.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    fetcher.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    await waitFor('16 MiB through the tunnel', () => out.includes('mid ') || (fetcher.exitCode !== null && (() => {
      throw new Error(`the client exited: ${err}`);
    })()), 30_000);
    // The tunnel is open with data in flight (the client stopped reading): rotate both ends now.
    for (const agent of [a, b]) {
      const r = agent.cli(['ca', 'rotate', '--output', 'json']);
      expect(r.status, r.stderr).toBe(0);
    }
    expect(activeIntermediate(b)).not.toBe(oldB);
    expect(tunnels(a).some((t) => t.side === 'client' && t.destId === SERVER)).toBe(true); // still the same one, mid-transfer
    fetcher.stdin?.end('go\n');
    expect(await exited(fetcher), err).toBe(0);
    expect(out).toContain(`done ${BIG} ${bigSha}`);

    const page = await curl('/marker.txt');
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout).toBe(marker);
    const newB = activeIntermediate(b);
    // Cached SVIDs are re-minted at half their life, not at once (their root, the shared one, stays).
    const seen = await until('B to present an SVID of its new intermediate', async () => {
      const r = await probe({ tls: true, cert: 'client', send: CONNECT(), afterOk: GET });
      return r.chain[1]?.fingerprint256 === newB && r;
    }, SVID_TTL_SECONDS * 2_000);
    expect(seen.received).toContain(marker);
  });

  it('without B\'s rule the tunnel is denied at B: curl fails, B reports both identities and counts it; restored, it works', async () => {
    const denied = (m: string): number => sample(m, 'tether_mesh_tunnels_total', { side: 'server', result: 'denied' });
    const before = denied(await metrics(hosts.b, b));
    const seen = events(b).length;
    writeFileSync(file('b-policy.yaml'), policy(false));
    b.child.kill('SIGHUP');
    try {
      await until('curl from A to fail', async () => (await curl('/marker.txt')).code !== 0, 20_000);
      const row = await until('B\'s tunnel deny event', async () =>
        events(b).slice(seen).find((e) => e.kind === 'tunnel' && e.reason?.startsWith('DENIED')), 10_000, () => JSON.stringify(events(b).slice(seen)));
      expect(row).toMatchObject({ verdict: 'deny', from: CLIENT, to: SERVER, destination: `${B}:${HTTP_PORT}` });
      expect(denied(await metrics(hosts.b, b))).toBeGreaterThan(before);
    } finally {
      writeFileSync(file('b-policy.yaml'), policy(true));
      b.child.kill('SIGHUP');
    }
    const back = await until('curl from A to work again', async () => {
      const r = await curl('/marker.txt');
      return r.code === 0 && r;
    }, 20_000);
    expect(back.stdout).toBe(marker);
  });

  it('permissive inbound (B restarted): the direct connection works and is counted unauthenticated; tunnels still work', async () => {
    server?.kill('SIGKILL');
    if (server !== undefined) await exited(server);
    await b.stop();
    b = await startAgent(hosts.b, cgB, 'b', SERVER, [PY], 'permissive', B_HANDSHAKE_MS);
    await startServer(); // listening again under the new agent's hooks: its listener has an identity
    expect(json<{ mesh: { inbound: string } }>(b, ['status']).mesh.inbound).toBe('permissive');
    const direct = await curl('/marker.txt', false);
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stdout).toBe(marker);
    await until('B to count the direct connection unauthenticated', async () =>
      sample(await metrics(hosts.b, b), 'tether_mesh_inbound_direct_total', { verdict: 'unauthenticated' }) >= 1);
    const page = await curl('/marker.txt');
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout).toBe(marker);
    expect(sample(await metrics(hosts.b, b), 'tether_mesh_tunnels_total', { side: 'server', result: 'opened' })).toBeGreaterThanOrEqual(1);
  });

  it('with A\'s agent stopped, a meshed connect fails closed (refused at A), never goes to B in plaintext', async () => {
    const before = sample(await metrics(hosts.b, b), 'tether_mesh_inbound_direct_total', { verdict: 'unauthenticated' });
    a.child.kill('SIGTERM'); // stopped, not uninstalled: its hooks stay pinned, the redirect points at its closed listener
    await exited(a.child);
    const r = await curl('/marker.txt', true, 5);
    expect(r.code).toBe(7); // curl: "Failed to connect" — ECONNREFUSED from A's own loopback
    expect(r.stdout).toBe('');
    // B is permissive now: a plaintext connection would have been let in and counted
    expect(sample(await metrics(hosts.b, b), 'tether_mesh_inbound_direct_total', { verdict: 'unauthenticated' })).toBe(before);
  });
});
