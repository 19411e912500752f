import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo, type Server } from 'node:net';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAuthority, type MintedX509Svid } from '../../agent/ca/index.js';
import { probeKtls } from '../../agent/kernel/index.js';
import {
  TunnelClient, TunnelServer, cryptoInfoSize, type KtlsDataPath, type TunnelEvent, type TunnelSvid, type TunnelTrust,
} from '../../agent/mesh/index.js';
import { TrustDomain, requireSpiffeId } from '../../agent/spiffe/index.js';
import { waitFor } from '../support/wait.js';
import { countingProxy } from '../support/tunnel-rig.js';

// Inside ../shared/vm/vm-run (Debian 6.1, tls.ko; TCG: TLS crypto is emulated and slow): the
// MESH.md §2 switch end to end over loopback, TunnelClient → TunnelServer → destination, with
// kTLS at both ends and kTLS against Node's TLS both ways (which checks the key schedule and
// the sequence numbers against OpenSSL, not only kernel against kernel).

const TD = TrustDomain.parse('example.org');
const WEB = requireSpiffeId('spiffe://example.org/web');
const DB = requireSpiffeId('spiffe://example.org/db');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

type End = 'ktls' | 'userspace';
let dir: string;
let authority: LocalAuthority;
let svids: { web: MintedX509Svid; db: MintedX509Svid };
let trust: TunnelTrust;
let path: KtlsDataPath;
const closers: Array<() => unknown> = [];
const events: TunnelEvent[] = [];
const servers = new Map<string, { server: TunnelServer; port: number }>();
const clients = new Map<End, TunnelClient>();
const svidFor = new Map<number, TunnelSvid>();
let verdict: 'allow' | 'deny' = 'allow';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

async function tunnelServer(name: string, ktls: KtlsDataPath | undefined): Promise<void> {
  const server = new TunnelServer({
    trust, svidForPort: (p) => svidFor.get(p), authorize: () => verdict, onEvent: (e) => events.push(e), handshakeTimeoutMs: 60_000, ktls,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  closers.push(() => server.close());
  servers.set(name, { server, port });
}

/** The agent's side of the redirect: accepted paused, handed to the tunnel client towards `server`. */
async function entry(client: End, server: string, destPort: number): Promise<number> {
  const peerPort = servers.get(server)?.port as number;
  const s = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    void clients.get(client)?.open({ workload: socket, destination: { host: '10.1.2.3', port: destPort }, peer: { host: '127.0.0.1', port: peerPort }, svid: svids.web });
  });
  return listen(s);
}

type Outcome = { data: Buffer; error: string | undefined };
function exchange(entryPort: number, send: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const s = netConnect({ port: entryPort, host: '127.0.0.1', allowHalfOpen: true }, () => s.end(send));
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code; });
    s.on('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}


function tlsStat(): Record<string, number> {
  return Object.fromEntries(readFileSync('/proc/net/tls_stat', 'utf8').trim().split('\n').map((l) => {
    const [k, v] = l.trim().split(/\s+/);
    return [k as string, Number(v)];
  }));
}

beforeAll(async () => {
  expect(process.env.VM_RUN, 'run this suite through `make test-vm`, not on the host').toBe('1');
  expect(release()).toMatch(/^6\.1\./);
  const probe = await probeKtls({ cryptoInfoSize });
  expect(probe.mode).toBe('ktls');
  path = { ciphers: probe.ciphers };
  dir = mkdtempSync(join(tmpdir(), 'tether-vm-ktls-ca-'));
  authority = await LocalAuthority.open({ stateDir: dir, trustDomain: TD, now: () => new Date() });
  closers.push(() => authority.close());
  svids = { web: authority.mintX509Svid({ id: WEB }), db: authority.mintX509Svid({ id: DB }) };
  trust = { trustDomain: TD, bundle: () => authority.x509Bundle(), now: () => new Date() };
  await tunnelServer('ktls', path);
  await tunnelServer('userspace', undefined);
  await tunnelServer('skewed', { ...path, rxSeqSkew: 1n });
  for (const end of ['ktls', 'userspace'] as const) {
    clients.set(end, new TunnelClient({ trust, onEvent: (e) => events.push(e), handshakeTimeoutMs: 60_000, ktls: end === 'ktls' ? path : undefined }));
  }
}, 300_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const PAIRS: Array<[End, End]> = [['ktls', 'ktls'], ['ktls', 'userspace'], ['userspace', 'ktls']];

describe('mesh tunnels switched to kTLS on Debian 6.1 (vm-run)', () => {
  it.each(PAIRS)('client %s → server %s: 16 MiB each way byte-exact, the FIN carried while the destination still sends', async (client, server) => {
    const before = tlsStat();
    const up = randomBytes(16 << 20);
    const down = randomBytes(16 << 20);
    let received = '';
    const dest = createServer({ allowHalfOpen: true }, (s) => {
      const hash = createHash('sha256');
      let n = 0;
      s.on('data', (b: Buffer) => { hash.update(b); n += b.length; });
      s.on('end', () => { received = `${n}:${hash.digest('hex')}`; s.end(down); }); // answers only after the client's FIN
    });
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    const from = events.length;
    const { data, error } = await exchange(await entry(client, server, destPort), up);
    expect(error).toBeUndefined();
    expect(received).toBe(`${up.length}:${sha(up)}`);
    expect([data.length, sha(data)]).toEqual([down.length, sha(down)]);
    const closed = await waitFor('both closed events', () => {
      const c = events.slice(from).filter((e) => e.kind === 'closed');
      return c.length === 2 ? c : undefined;
    }, 60_000);
    for (const e of closed) expect([e.reason, e.bytes]).toEqual([undefined, { toDestination: up.length, fromDestination: down.length }]);
    const kernelEnds = [client, server].filter((e) => e === 'ktls').length;
    const after = tlsStat();
    expect(after.TlsTxSw! - before.TlsTxSw!).toBe(kernelEnds);
    expect(after.TlsRxSw! - before.TlsRxSw!).toBe(kernelEnds);
    expect(after.TlsCurrTxSw).toBe(before.TlsCurrTxSw); // the relays closed their sockets
    // Node's destroy() after the fd was taken wrote nothing: a stray record (close_notify) would fail to decrypt.
    expect(after.TlsDecryptError).toBe(before.TlsDecryptError);
  }, 600_000);

  it.each(PAIRS)('client %s → server %s: a destination that speaks first', async (client, server) => {
    const dest = createServer({ allowHalfOpen: true }, (s) => {
      s.write('220 banner\r\n');
      s.on('data', () => undefined);
      s.on('end', () => s.end('221 bye\r\n'));
    });
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    const { data, error } = await exchange(await entry(client, server, destPort), Buffer.alloc(0));
    expect(error).toBeUndefined();
    expect(data.toString()).toBe('220 banner\r\n221 bye\r\n');
  }, 300_000);

  it('kTLS both ends: nothing in clear on the wire; both ends list the tunnel as ktls with live bytes', async () => {
    const wire = await countingProxy(servers.get('ktls')?.port as number, listen);
    servers.set('wire', { server: servers.get('ktls')?.server as TunnelServer, port: wire.port });
    const marker = Buffer.from('PLAINTEXT-MARKER-'.repeat(1 << 14)); // 272 KiB
    let got = 0;
    let destSide: import('node:net').Socket | undefined;
    const dest = createServer({ allowHalfOpen: true }, (s) => {
      destSide = s;
      s.on('data', (b: Buffer) => { got += b.length; });
      s.on('end', () => s.end());
    });
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    const app = netConnect({ port: await entry('ktls', 'wire', destPort), host: '127.0.0.1', allowHalfOpen: true });
    app.write(marker);
    await waitFor('the marker at the destination', () => got === marker.length, 120_000);
    destSide?.write('answer');
    await new Promise((r) => app.once('data', r));
    const views = [...(clients.get('ktls')?.tunnels() ?? []), ...(servers.get('ktls')?.server.tunnels() ?? [])].filter((v) => v.destination.port === destPort);
    expect(views.map((v) => [v.side, v.mode, v.bytes.toDestination, v.bytes.fromDestination])).toEqual([
      ['client', 'ktls', marker.length, 6], ['server', 'ktls', marker.length, 6],
    ]);
    app.end();
    await new Promise((r) => app.once('close', r));
    const captured = wire.bytes();
    expect(captured.length).toBeGreaterThan(marker.length);
    for (const clear of ['PLAINTEXT-MARKER', 'CONNECT ', 'GO ', 'answer', 'spiffe://']) expect(captured.includes(clear), clear).toBe(false);
  }, 300_000);

  it('kTLS client: DENIED and FAILED read in kTLS reset the workload, reported at both ends', async () => {
    const dest = createServer(() => undefined);
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    let from = events.length;
    verdict = 'deny';
    try {
      const { error } = await exchange(await entry('ktls', 'ktls', destPort), Buffer.from('x'));
      expect(error).toBe('ECONNRESET');
    } finally {
      verdict = 'allow';
    }
    const denied = await waitFor('both denials', () => {
      const d = events.slice(from).filter((e) => e.kind === 'denied');
      return d.length === 2 ? d : undefined;
    }, 60_000);
    expect(denied.map((e) => [e.side, e.reason])).toEqual(expect.arrayContaining([['server', 'DENIED'], ['client', 'DENIED']]));
    const gone = createServer();
    const closedPort = await listen(gone);
    await new Promise((r) => gone.close(r));
    svidFor.set(closedPort, svids.db);
    from = events.length;
    expect((await exchange(await entry('ktls', 'ktls', closedPort), Buffer.from('x'))).error).toBe('ECONNRESET');
    await waitFor('the client\'s DESTINATION_FAILED', () => events.slice(from).find((e) => e.side === 'client' && e.reason === 'DESTINATION_FAILED'), 60_000);
  }, 300_000);

  it('a wrong sequence number (the server\'s RX off by one) fails closed: workload and destination reset', async () => {
    let destError: string | undefined;
    let destGot = 0;
    let destClosed = (): void => undefined;
    const closed = new Promise<void>((resolve) => { destClosed = resolve; });
    const dest = createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (b: Buffer) => { destGot += b.length; });
      s.on('error', (e: NodeJS.ErrnoException) => { destError = e.code; });
      s.on('close', () => destClosed());
    });
    const destPort = await listen(dest);
    svidFor.set(destPort, svids.db);
    const from = events.length;
    const { data, error } = await exchange(await entry('ktls', 'skewed', destPort), Buffer.from('never to arrive'));
    expect([error, data.length]).toEqual(['ECONNRESET', 0]);
    const failed = await waitFor('the server\'s failure', () => events.slice(from).find((e) => e.side === 'server' && e.kind === 'failed'), 60_000);
    expect(failed.message).toMatch(/EBADMSG/);
    const client = await waitFor('the client\'s end', () => events.slice(from).find((e) => e.side === 'client' && e.kind === 'closed'), 60_000);
    expect(client.reason).toBe('RELAY_FAILED');
    await closed;
    expect([destError, destGot]).toEqual(['ECONNRESET', 0]);
  }, 300_000);
});
