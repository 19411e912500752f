import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAuthority, type MintedX509Svid } from '../../agent/ca/index.js';
import {
  TunnelClient, TunnelServer, sniForPort, tunnelContextOptions, type Authorization, type TunnelEvent, type TunnelSvid, type TunnelTrust,
} from '../../agent/mesh/index.js';
import { TrustDomain, requireSpiffeId } from '../../agent/spiffe/index.js';
import { FakeClock } from '../fakes/fake-clock.js';
import { issue, LEAF_USAGES, root } from '../support/x509-certs.js';
import { exited, waitFor } from '../support/wait.js';
import { countingProxy } from '../support/tunnel-rig.js';

/**
 * The userspace tunnel (MESH.md §5) over real loopback TCP: app → accept socket (paused) →
 * TunnelClient → counting proxy (the "wire") → TunnelServer → destination. SVIDs come from real
 * LocalAuthorities; both workloads sit under ONE authority until ca/ has a shared upstream.
 */
const TD = TrustDomain.parse('example.org');
const WEB = requireSpiffeId('spiffe://example.org/web');
const DB = requireSpiffeId('spiffe://example.org/db');
const INTRUDER = requireSpiffeId('spiffe://example.org/intruder');
const TIMEOUT_MS = 400;

const dirs: string[] = [];
const closers: Array<() => unknown> = [];
let authority: LocalAuthority;
let svids: { web: MintedX509Svid; db: MintedX509Svid; intruder: MintedX509Svid; expired: MintedX509Svid };
let foreign: MintedX509Svid;
let rogue: MintedX509Svid; // right trust domain, another CA: not in our bundle
let trust: TunnelTrust;
const serverEvents: TunnelEvent[] = [];
const clientEvents: TunnelEvent[] = [];
let tunnelServer: TunnelServer;
let wire: { port: number; bytes: () => Buffer };
let tunnelPort: number; // the tunnel server itself, without the counting proxy (which ends politely)
let client: TunnelClient;
let httpPort: number;
let httpBody: Buffer;
let python: ChildProcess;

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function openAuthority(td: TrustDomain, now: () => Date): Promise<LocalAuthority> {
  const a = await LocalAuthority.open({ stateDir: tempDir('tether-mesh-ca-'), trustDomain: td, now });
  closers.push(() => a.close());
  return a;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}


/** The agent's side of the redirect: accepted paused, handed to the tunnel client. */
async function workloadEntry(svid: TunnelSvid, destPort: number, peerPort = wire.port): Promise<number> {
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    void client.open({ workload: socket, destination: { host: '10.1.2.3', port: destPort }, peer: { host: '127.0.0.1', port: peerPort }, svid });
  });
  return listen(server);
}

type Outcome = { data: Buffer; error: NodeJS.ErrnoException | undefined };

/** Connects as the app, sends `send` then FIN, reads to the end (or the reset). */
function exchange(entryPort: number, send: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: NodeJS.ErrnoException | undefined;
    const s = netConnect({ port: entryPort, host: '127.0.0.1', allowHalfOpen: true }, () => s.end(send));
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', (e) => { error = e; });
    s.on('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const svidFor = new Map<number, TunnelSvid>();
let authorize: (s: string, d: string) => Authorization = () => 'allow';

beforeAll(async () => {
  const clock = new FakeClock(Date.now() - 2 * 3_600_000);
  authority = await openAuthority(TD, clock.now);
  const expired = authority.mintX509Svid({ id: WEB, ttlSeconds: 60 });
  clock.set(new Date());
  svids = {
    web: authority.mintX509Svid({ id: WEB }), db: authority.mintX509Svid({ id: DB }), intruder: authority.mintX509Svid({ id: INTRUDER }), expired,
  };
  foreign = (await openAuthority(TrustDomain.parse('other.org'), () => new Date())).mintX509Svid({ id: requireSpiffeId('spiffe://other.org/web') });
  rogue = (await openAuthority(TD, () => new Date())).mintX509Svid({ id: WEB });
  trust = { trustDomain: TD, bundle: () => authority.x509Bundle(), now: () => new Date() };

  const www = tempDir('tether-mesh-www-');
  httpBody = randomBytes(200_000);
  writeFileSync(join(www, 'blob'), httpBody);
  const probe = createServer();
  httpPort = await listen(probe);
  await new Promise((r) => probe.close(r));
  python = spawn('python3', ['-m', 'http.server', String(httpPort), '--bind', '127.0.0.1', '--directory', www], { stdio: 'ignore' });
  await untilListening(httpPort);

  tunnelServer = new TunnelServer({
    trust, svidForPort: (port) => svidFor.get(port), onEvent: (e) => serverEvents.push(e), handshakeTimeoutMs: TIMEOUT_MS,
    authorize: (s, d) => authorize(s.toString(), d.toString()),
  });
  const { port } = await tunnelServer.listen(0, '127.0.0.1');
  tunnelPort = port;
  closers.push(() => tunnelServer.close());
  wire = await countingProxy(port, listen);
  client = new TunnelClient({ trust, onEvent: (e) => clientEvents.push(e), handshakeTimeoutMs: 5_000 });
  svidFor.set(httpPort, svids.db);
}, 60_000);

/** Resolves once something accepts on the port (python needs a moment to start). */
async function untilListening(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = netConnect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.on('error', () => { s.destroy(); r(false); });
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(async () => {
  python?.kill();
  if (python) await exited(python);
  for (const c of closers.reverse()) await c();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('mesh userspace tunnel', () => {
  it('carries an HTTP exchange to python http.server byte-exact, half-close included', async () => {
    const entry = await workloadEntry(svids.web, httpPort);
    const { data, error } = await exchange(entry, Buffer.from('GET /blob HTTP/1.0\r\nHost: db\r\n\r\n'));
    expect(error).toBeUndefined();
    const split = data.indexOf('\r\n\r\n');
    const head = data.subarray(0, split).toString();
    expect(head).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    expect(head).toContain(`Content-Length: ${httpBody.length}`);
    expect(sha(data.subarray(split + 4))).toBe(sha(httpBody));
    await waitFor('both closed events', () => serverEvents.some((e) => e.kind === 'closed') && clientEvents.some((e) => e.kind === 'closed'));
    const opened = serverEvents.find((e) => e.kind === 'opened');
    expect(opened?.sourceId?.toString()).toBe(WEB.toString());
    expect(opened?.destId?.toString()).toBe(DB.toString());
    expect(clientEvents.find((e) => e.kind === 'opened')?.destId?.toString()).toBe(DB.toString());
    const closed = clientEvents.find((e) => e.kind === 'closed');
    expect(closed?.reason).toBeUndefined();
    expect(closed?.bytes?.fromDestination).toBe(data.length);
  });

  it('moves 16 MiB each way byte-exact; the FIN reaches the destination while it still sends', async () => {
    const up = randomBytes(16 << 20);
    const down = randomBytes(16 << 20);
    let received = '';
    const dest = createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (b: Buffer) => got.push(b));
      s.on('end', () => { received = sha(Buffer.concat(got)); s.end(down); }); // answers only after the client's FIN
    });
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    const { data, error } = await exchange(await workloadEntry(svids.web, destPort), up);
    expect(error).toBeUndefined();
    expect(received).toBe(sha(up));
    expect(data.length).toBe(down.length);
    expect(sha(data)).toBe(sha(down));
  }, 60_000);

  it('carries a destination that speaks first (its banner may share OK\'s record)', async () => {
    const dest = createServer({ allowHalfOpen: true }, (s) => {
      s.write('220 banner\r\n');
      s.on('data', () => undefined);
      s.on('end', () => s.end('221 bye\r\n'));
    });
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    const { data, error } = await exchange(await workloadEntry(svids.web, destPort), Buffer.alloc(0));
    expect(error).toBeUndefined();
    expect(data.toString()).toBe('220 banner\r\n221 bye\r\n');
  });

  it('puts no SPIFFE ID and no plaintext HTTP on the wire', () => {
    const captured = wire.bytes();
    expect(captured.length).toBeGreaterThan(32 << 20);
    expect(captured.includes('spiffe://')).toBe(false);
    expect(captured.includes('HTTP/1.')).toBe(false);
    expect(captured.includes(sniForPort(httpPort))).toBe(true); // the SNI is the only name in clear
  });

  it('resets the workload on a policy deny and reports both identities at both ends', async () => {
    authorize = (s) => (s === INTRUDER.toString() ? 'deny' : 'allow');
    try {
      const { data, error } = await exchange(await workloadEntry(svids.intruder, httpPort), Buffer.from('GET / HTTP/1.0\r\n\r\n'));
      expect(error?.code).toBe('ECONNRESET');
      expect(data).toHaveLength(0);
      const at = (events: TunnelEvent[]) => waitFor('a denied event', () => events.find((e) => e.kind === 'denied'));
      for (const e of [await at(serverEvents), await at(clientEvents)]) {
        expect([e.sourceId?.toString(), e.destId?.toString(), e.reason]).toEqual([INTRUDER.toString(), DB.toString(), 'DENIED']);
      }
    } finally {
      authorize = () => 'allow';
    }
  });

  it('answers FAILED when the destination refuses, and the workload is reset', async () => {
    const probe = createServer();
    const closedPort = await listen(probe);
    await new Promise((r) => probe.close(r));
    svidFor.set(closedPort, svids.db);
    const { error } = await exchange(await workloadEntry(svids.web, closedPort), Buffer.from('x'));
    expect(error?.code).toBe('ECONNRESET');
    const e = await waitFor('a DESTINATION_FAILED event', () => serverEvents.find((ev) => ev.reason === 'DESTINATION_FAILED'));
    expect([e.kind, e.sourceId?.toString(), e.destination?.port]).toEqual(['failed', WEB.toString(), closedPort]);
    expect(clientEvents.at(-1)).toMatchObject({ kind: 'failed', reason: 'DESTINATION_FAILED' });
  });

  it('fails the workload when the server is not the expected identity', async () => {
    const entry = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
      void client.open({ workload: socket, destination: { host: '10.1.2.3', port: httpPort }, peer: { host: '127.0.0.1', port: wire.port },
        svid: svids.web, expectedServerId: INTRUDER });
    });
    const { error } = await exchange(await listen(entry), Buffer.from('x'));
    expect(error?.code).toBe('ECONNRESET');
    expect(clientEvents.at(-1)).toMatchObject({ kind: 'failed', reason: 'PEER_UNEXPECTED_ID' });
  });
});

describe('mesh userspace tunnel: cut short', () => {
  it('a client closed mid-stream (the agent stopping) resets both workloads: neither takes the cut stream for a whole one', async () => {
    let destEnd: string | undefined;
    const dest = createServer({ allowHalfOpen: true }, (s) => {
      s.write('hello');
      s.on('error', (e: NodeJS.ErrnoException) => { destEnd ??= e.code; });
      s.on('end', () => { destEnd ??= 'end'; });
    });
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    const own = new TunnelClient({ trust, handshakeTimeoutMs: 5_000 });
    const entry = await listen(createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
      void own.open({ workload: socket, destination: { host: '10.1.2.3', port: destPort }, peer: { host: '127.0.0.1', port: tunnelPort }, svid: svids.web });
    }));
    const app = netConnect({ port: entry, host: '127.0.0.1', allowHalfOpen: true });
    let appEnd: string | undefined;
    app.on('error', (e: NodeJS.ErrnoException) => { appEnd ??= e.code; });
    app.on('end', () => { appEnd ??= 'end'; });
    await new Promise((r) => app.once('data', r)); // relaying: the destination's greeting arrived
    expect(own.tunnels()).toHaveLength(1);
    own.close();
    await waitFor('both workloads to see the end', () => (appEnd !== undefined && destEnd !== undefined) || undefined);
    expect(appEnd).toBe('ECONNRESET');
    expect(destEnd).toBe('ECONNRESET'); // the server end's relay saw the tunnel reset, and reset its destination
    expect(own.tunnels()).toHaveLength(0);
  });
});

describe('mesh userspace tunnel: bad peers are refused, each with its reason', () => {
  let longLived: Socket;
  let echoed = '';

  beforeAll(async () => {
    // A tunnel that stays open through every refusal below.
    const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    const echoPort = await listen(echo);
    svidFor.set(echoPort, svids.db);
    const entry = await workloadEntry(svids.web, echoPort);
    longLived = netConnect({ port: entry, host: '127.0.0.1', allowHalfOpen: true });
    longLived.on('data', (b: Buffer) => { echoed += b.toString(); });
    longLived.write('before ');
    await waitFor('the long tunnel to echo', () => echoed === 'before ');
  });

  const refusedAtServer = async (reason: string, act: () => Promise<unknown>): Promise<TunnelEvent> => {
    const from = serverEvents.length;
    await act();
    return waitFor(`a server refusal ${reason}`, () => serverEvents.slice(from).find((e) => e.reason === reason), 5_000);
  };

  it.each([
    ['an SVID of another trust domain', () => foreign, 'PEER_FOREIGN_TRUST_DOMAIN', /other\.org/],
    ['an expired SVID', () => svids.expired, 'PEER_INVALID_SVID', /NOT_VALID_AFTER|expired|no longer valid/i],
    ['an SVID from a CA outside the bundle', () => rogue, 'PEER_INVALID_SVID', /does not verify/],
  ])('refuses %s', async (_name, svid, reason, message) => {
    const e = await refusedAtServer(reason, async () => {
      const { error } = await exchange(await workloadEntry(svid(), httpPort), Buffer.from('GET / HTTP/1.0\r\n\r\n'));
      expect(error?.code).toBe('ECONNRESET');
    });
    expect(e.message).toMatch(message);
    expect(e.kind).toBe('failed');
  });

  it('refuses a certificate with two URI SANs', async () => {
    const ca = await root('example.org');
    const leaf = await issue({
      subject: 'CN=two', issuer: ca, ca: false, usages: LEAF_USAGES, uris: ['spiffe://example.org/web', 'spiffe://example.org/db'],
    });
    const two: TunnelSvid = { chain: [leaf.der], privateKeyPkcs8: leaf.privateKey.export({ type: 'pkcs8', format: 'der' }) };
    const e = await refusedAtServer('PEER_INVALID_SVID', () => rawTls(two, 'CONNECT 10.1.2.3:80\n'));
    expect(e.message).toMatch(/MULTIPLE_URI_SANS/);
    // Our own client never presents it: the workload is reset at once.
    const { error } = await exchange(await workloadEntry(two, httpPort), Buffer.from('x'));
    expect(error?.code).toBe('ECONNRESET');
    expect(clientEvents.at(-1)).toMatchObject({ kind: 'failed', reason: 'LOCAL_SVID_INVALID' });
  });

  it('refuses a TLS client without a certificate', async () => {
    const e = await refusedAtServer('PEER_NO_CERTIFICATE', () => rawTls(undefined, undefined));
    expect(e.sourceId).toBeUndefined();
  });

  it('refuses garbage and oversized CONNECT lines, and a port other than the SNI', async () => {
    await refusedAtServer('BAD_CONNECT', () => rawTls(svids.web, 'CONNECT nonsense\n'));
    await refusedAtServer('BAD_CONNECT', () => rawTls(svids.web, `CONNECT ${'a'.repeat(300)}:80\n`));
    await refusedAtServer('BAD_CONNECT', () => rawTls(svids.web, 'CONNECT 10.0.0.1:080\n'));
    const e = await refusedAtServer('PORT_MISMATCH', () => rawTls(svids.web, 'CONNECT 10.0.0.1:22\n'));
    expect(e.kind).toBe('denied');
  });

  it('refuses a plain-TCP client, a TLS 1.2 client and an unknown SNI', async () => {
    await refusedAtServer('TLS_FAILED', () => rawTcp('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const e = await refusedAtServer('TLS_FAILED', () => rawTls(svids.web, undefined, sniForPort(httpPort), false, 'TLSv1.2'));
    expect(e.message).toMatch(/unsupported protocol|version/i);
    await refusedAtServer('NO_SVID_FOR_PORT', () => rawTls(svids.web, undefined, 'p1.tether'));
    await refusedAtServer('TLS_FAILED', () => rawTls(svids.web, undefined, '')); // no SNI: no SVID to present
  });

  it('times out a peer that stalls in the handshake or before CONNECT', async () => {
    await refusedAtServer('TIMEOUT', () => rawTcp(Buffer.from([0x16, 0x03, 0x01])));
    await refusedAtServer('TIMEOUT', () => rawTls(svids.web, undefined, undefined, true));
  });

  it('reported every refusal once, with a code and a message', () => {
    const refusals = serverEvents.filter((e) => e.kind === 'failed' || e.kind === 'denied');
    expect(refusals.length).toBeGreaterThanOrEqual(12);
    for (const e of refusals) expect([e.reason, e.message]).toEqual([expect.any(String), expect.stringMatching(/.{8}/)]);
  });

  it('kept the other tunnel working throughout', async () => {
    longLived.end('after');
    await new Promise((r) => longLived.once('close', r));
    expect(echoed).toBe('before after');
    const { data } = await exchange(await workloadEntry(svids.web, httpPort), Buffer.from('GET /blob HTTP/1.0\r\n\r\n'));
    expect(sha(data.subarray(data.indexOf('\r\n\r\n') + 4))).toBe(sha(httpBody));
  });
});

/** A TLS client of our own: with or without an SVID, sending `line` after the handshake (or stalling). */
function rawTls(
  svid: TunnelSvid | undefined, line: string | undefined, servername = sniForPort(httpPort), stall = false, version?: 'TLSv1.2',
): Promise<void> {
  return new Promise((resolve) => {
    const base = svid === undefined ? { minVersion: 'TLSv1.3' as const } : tunnelContextOptions(svid, authority.x509Bundle());
    const options = version === undefined ? base : { ...base, minVersion: version, maxVersion: version, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' };
    const s = tlsConnect({ ...options, port: wire.port, host: '127.0.0.1', servername, rejectUnauthorized: false });
    s.on('secureConnect', () => { if (line !== undefined && !stall) s.write(line); });
    s.on('error', () => undefined);
    s.resume();
    s.on('close', () => resolve());
  });
}

/** A plain TCP client: sends `bytes` (a ClientHello's first bytes: a stall), then waits for the server to drop it. */
function rawTcp(bytes: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = netConnect({ port: wire.port, host: '127.0.0.1' }, () => s.write(bytes));
    s.on('error', () => undefined);
    s.resume();
    s.on('close', () => resolve());
  });
}
