import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KTLS_CIPHERS, KernelError, KtlsSocket, OwnedSocket, RecordType, probeKtls, relayKtls, type KtlsCipherName, type KtlsRelayEnd,
} from '../../agent/kernel/index.js';
import { cryptoInfo, cryptoInfoSize, trafficKeys, zero } from '../../agent/mesh/index.js';
import { openFds } from '../support/fd-count.js';
import { waitFor } from '../support/wait.js';

// Inside ../shared/vm/vm-run (Debian 6.1, tls.ko, 1 vCPU TCG: crypto is emulated and slow): the
// addon's kTLS surface on real loopback TCP, keys installed directly from fixed test secrets
// (A's TX = B's RX both ways), and the native splice relay between plain sockets.

const CLOSE_NOTIFY = Buffer.from([1, 0]);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

let server: Server;
const accepted: Socket[] = [];

/** Two connected loopback TCP sockets, neither read by Node. */
async function nodePair(): Promise<[Socket, Socket]> {
  const port = (server.address() as AddressInfo).port;
  const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  client.pause(); // Node must not start reading at connect
  await new Promise<void>((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
  await waitFor('the accept', () => accepted.length > 0);
  return [client, accepted.shift() as Socket];
}

/** Takes a Node socket's fd (dup) and lets Node close its own: it writes nothing. */
function take<T extends OwnedSocket>(s: Socket, make: (fd: number) => T): T {
  (s as unknown as { _handle: { readStop(): void } })._handle.readStop();
  const owned = make(fdOf(s));
  s.destroy();
  return owned;
}

const SECRET_C = (cipher: KtlsCipherName): Buffer => Buffer.alloc(cipher === 'aes-256-gcm' ? 48 : 32, 0xc1);
const SECRET_S = (cipher: KtlsCipherName): Buffer => Buffer.alloc(cipher === 'aes-256-gcm' ? 48 : 32, 0x5e);

function install(sock: KtlsSocket, cipher: KtlsCipherName, tx: Buffer, rx: Buffer, txSeq = 0n, rxSeq = 0n): void {
  sock.ulp();
  for (const [dir, secret, seq] of [['tx', tx, txSeq], ['rx', rx, rxSeq]] as const) {
    const keys = trafficKeys(cipher, secret);
    const info = cryptoInfo(keys, seq);
    sock.setCrypto(dir, info);
    zero(info, keys.key, keys.iv);
  }
}

/** A kTLS pair: a is the "client" (TX with C's keys), b the "server"; bRxSeq skews b's RX. */
async function ktlsPair(cipher: KtlsCipherName, bRxSeq = 0n): Promise<[KtlsSocket, KtlsSocket]> {
  const [x, y] = await nodePair();
  const a = take(x, KtlsSocket.dup);
  const b = take(y, KtlsSocket.dup);
  install(a, cipher, SECRET_C(cipher), SECRET_S(cipher));
  install(b, cipher, SECRET_S(cipher), SECRET_C(cipher), 0n, bRxSeq);
  return [a, b];
}

/** An app's socket (Node, reading) and the agent's plain end of it (owned). */
async function plainPair(): Promise<{ app: Socket; plain: OwnedSocket }> {
  const [app, agentSide] = await nodePair();
  return { app, plain: take(agentSide, OwnedSocket.dup) };
}

type AppOutcome = { data: Buffer; ended: boolean; error: string | undefined };
/** Reads an app socket to its end, EOF or reset. */
function drain(app: Socket): Promise<AppOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    app.on('data', (b: Buffer) => chunks.push(b));
    app.on('end', () => { ended = true; });
    app.on('error', (e: NodeJS.ErrnoException) => { error = e.code; });
    app.on('close', () => resolve({ data: Buffer.concat(chunks), ended, error }));
    app.resume();
  });
}

function relayed(plain: OwnedSocket, tls: KtlsSocket): Promise<KtlsRelayEnd> {
  return new Promise((resolve) => relayKtls(plain, tls, resolve));
}

function tlsStat(): Record<string, number> {
  return Object.fromEntries(readFileSync('/proc/net/tls_stat', 'utf8').trim().split('\n').map((l) => {
    const [k, v] = l.trim().split(/\s+/);
    return [k as string, Number(v)];
  }));
}

let statsAtStart: Record<string, number>;

beforeAll(async () => {
  expect(process.env.VM_RUN, 'run this suite through `make test-vm`, not on the host').toBe('1');
  expect(release()).toMatch(/^6\.1\./);
  statsAtStart = tlsStat();
  server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

describe('kTLS through the addon on Debian 6.1 (vm-run)', () => {
  it('the probe finds kTLS with all three ciphers, checks mesh/\'s packing sizes, and closes what it opened', async () => {
    const before = await openFds();
    const result = await probeKtls({ cryptoInfoSize });
    expect(result).toEqual({ mode: 'ktls', ciphers: [...KTLS_CIPHERS], detail: expect.stringContaining('aes-128-gcm, aes-256-gcm, chacha20-poly1305') });
    await expect(probeKtls({ cryptoInfoSize: (c) => cryptoInfoSize(c) + (c === 'chacha20-poly1305' ? 4 : 0) }))
      .rejects.toMatchObject({ code: 'ABI_MISMATCH', message: expect.stringContaining('chacha20-poly1305') });
    expect(await openFds()).toBe(before);
  });

  it.each(KTLS_CIPHERS)('%s: records go both ways with their types; a second TLS_TX is refused', async (cipher) => {
    const before = await openFds();
    const [a, b] = await ktlsPair(cipher);
    try {
      a.sendRecord(RecordType.applicationData, Buffer.from('hello from a'));
      expect(await b.recvRecord(16384, 60_000)).toEqual({ type: 23, data: Buffer.from('hello from a') });
      b.sendRecord(RecordType.handshake, Buffer.from([4, 0, 0, 2, 9, 9]));
      b.sendRecord(RecordType.applicationData, Buffer.from('data'));
      expect(await a.recvRecord(16384, 60_000)).toEqual({ type: 22, data: Buffer.from([4, 0, 0, 2, 9, 9]) });
      expect(await a.recvRecord(16384, 60_000)).toEqual({ type: 23, data: Buffer.from('data') });
      const late = a.recvRecord(16384, 60_000); // waits on the loop, then wakes for the record
      b.sendRecord(RecordType.alert, CLOSE_NOTIFY);
      expect(await late).toEqual({ type: 21, data: CLOSE_NOTIFY });
      await expect(a.recvRecord(16384, 200)).rejects.toMatchObject({ errno: 'ETIMEDOUT' });
      const again = trafficKeys(cipher, SECRET_C(cipher));
      expect(() => a.setCrypto('tx', cryptoInfo(again, 0n))).toThrow(KernelError);
    } finally {
      a.close();
      b.close();
    }
    expect(await openFds()).toBe(before);
  }, 120_000);

  it('relays 16 MiB each way byte-exact through a kTLS pair, half-close carried, close_notify as EOF', async () => {
    const [ta, tb] = await ktlsPair('aes-128-gcm');
    const one = await plainPair();
    const two = await plainPair();
    const endA = relayed(one.plain, ta);
    const endB = relayed(two.plain, tb);
    const up = randomBytes(16 << 20);
    const down = randomBytes(16 << 20);
    const atTwo = drain(two.app);
    // Two answers only after one's EOF reached it (through close_notify): half-close both ways.
    two.app.once('end', () => two.app.end(down));
    const atOne = drain(one.app);
    one.app.end(up);
    const [gotOne, gotTwo, a, b] = await Promise.all([atOne, atTwo, endA, endB]);
    expect([gotTwo.ended, gotTwo.error, gotTwo.data.length, sha(gotTwo.data)]).toEqual([true, undefined, up.length, sha(up)]);
    expect([gotOne.ended, gotOne.error, gotOne.data.length, sha(gotOne.data)]).toEqual([true, undefined, down.length, sha(down)]);
    expect(a).toEqual({ toTls: up.length, fromTls: down.length, reason: 'close_notify' });
    expect(b).toEqual({ toTls: down.length, fromTls: up.length, reason: 'eof' });
  }, 600_000);

  it('the relay skips NewSessionTickets, and ends its direction on close_notify while the other goes on', async () => {
    const before = await openFds();
    const [ta, tb] = await ktlsPair('chacha20-poly1305');
    const one = await plainPair();
    const end = relayed(one.plain, ta);
    const atOne = drain(one.app);
    // Two tickets in one record, one in another (Node's server sends two), then data, then close_notify.
    tb.sendRecord(RecordType.handshake, Buffer.from([4, 0, 0, 1, 7, 4, 0, 0, 2, 8, 8]));
    tb.sendRecord(RecordType.handshake, Buffer.from([4, 0, 0, 0]));
    tb.sendRecord(RecordType.applicationData, Buffer.from('after the tickets'));
    tb.sendRecord(RecordType.alert, CLOSE_NOTIFY);
    await waitFor('EOF at the app', () => one.app.readableEnded, 60_000);
    one.app.end('still going up');
    expect(await tb.recvRecord(16384, 60_000)).toEqual({ type: 23, data: Buffer.from('still going up') });
    expect(await tb.recvRecord(16384, 60_000)).toEqual({ type: 21, data: CLOSE_NOTIFY });
    expect(await tb.recvRecord(16384, 60_000)).toBeNull(); // then FIN
    tb.close();
    expect(await end).toEqual({ toTls: 14, fromTls: 17, reason: 'eof' });
    expect(await atOne).toEqual({ data: Buffer.from('after the tickets'), ended: true, error: undefined });
    expect(await openFds()).toBe(before);
  }, 120_000);

  it('a wrong RX sequence number fails closed: EBADMSG, both plain ends reset', async () => {
    const before = await openFds();
    const decryptErrors = tlsStat().TlsDecryptError ?? 0;
    const [ta, tb] = await ktlsPair('aes-256-gcm', 1n); // b expects record 1 first: a sends record 0
    const one = await plainPair();
    const two = await plainPair();
    const endA = relayed(one.plain, ta);
    const endB = relayed(two.plain, tb);
    const [atOne, atTwo] = [drain(one.app), drain(two.app)];
    one.app.write('never decrypted');
    const [a, b, gotOne, gotTwo] = await Promise.all([endA, endB, atOne, atTwo]);
    expect(b.reason).toBe('EBADMSG');
    expect(a.reason).toBe('error:ECONNRESET'); // b's reset reaches a, which resets its workload too
    expect([gotTwo.error, gotTwo.data.length]).toEqual(['ECONNRESET', 0]);
    expect([gotOne.error, gotOne.data.length]).toEqual(['ECONNRESET', 0]);
    expect(tlsStat().TlsDecryptError).toBeGreaterThan(decryptErrors);
    expect(await openFds()).toBe(before);
  }, 120_000);

  it.each([
    ['a KeyUpdate', RecordType.handshake, Buffer.from([24, 0, 0, 1, 0]), 'handshake:24'],
    ['a ticket longer than its record', RecordType.handshake, Buffer.from([4, 0, 0, 9, 1]), 'handshake:-1'],
    ['an alert other than close_notify', RecordType.alert, Buffer.from([2, 40]), 'alert:40'],
    ['a change_cipher_spec record', 20, Buffer.from([1]), 'record:20'],
  ])('the relay fails on %s and resets the workload', async (_name, type, body, reason) => {
    const [ta, tb] = await ktlsPair('aes-128-gcm');
    const one = await plainPair();
    const end = relayed(one.plain, ta);
    const atOne = drain(one.app);
    tb.sendRecord(type, body);
    expect((await end).reason).toBe(reason);
    expect((await atOne).error).toBe('ECONNRESET');
    tb.close();
  }, 120_000);

  it('the peer\'s EOF without close_notify is truncation: the workload is reset', async () => {
    const [ta, tb] = await ktlsPair('aes-128-gcm');
    const one = await plainPair();
    const end = relayed(one.plain, ta);
    const atOne = drain(one.app);
    tb.sendRecord(RecordType.applicationData, Buffer.from('partial'));
    // libuv reports an RST behind unread data as a clean EOF: the app reads first.
    await waitFor('the data at the app', () => one.app.bytesRead === 7, 60_000);
    tb.close(); // FIN, no close_notify
    expect(await end).toEqual({ toTls: 0, fromTls: 7, reason: 'truncated' });
    const got = await atOne;
    expect(got.error).toBe('ECONNRESET');
  }, 120_000);

  it('cancel resets both sides', async () => {
    const [ta, tb] = await ktlsPair('aes-128-gcm');
    const one = await plainPair();
    let ended: KtlsRelayEnd | undefined;
    const relay = relayKtls(one.plain, ta, (e) => { ended = e; });
    const atOne = drain(one.app);
    relay.cancel();
    await waitFor('the end', () => ended, 60_000);
    expect(ended?.reason).toBe('cancelled');
    expect((await atOne).error).toBe('ECONNRESET');
    await expect(tb.recvRecord(16384, 60_000)).rejects.toMatchObject({ errno: 'ECONNRESET' });
    tb.close();
    relay.cancel(); // already ended: ignored
  }, 120_000);

  it('/proc/net/tls_stat counted the software kTLS sockets', () => {
    const now = tlsStat();
    expect(now.TlsTxSw).toBeGreaterThan(statsAtStart.TlsTxSw ?? 0);
    expect(now.TlsRxSw).toBeGreaterThan(statsAtStart.TlsRxSw ?? 0);
    expect(now.TlsCurrTxSw).toBe(statsAtStart.TlsCurrTxSw); // every socket closed again
    expect(now.TlsCurrRxSw).toBe(statsAtStart.TlsCurrRxSw);
  });
});
