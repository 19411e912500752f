import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KTLS_CIPHERS, KernelError, KtlsSocket, OwnedSocket, detectKernelFeatures, ktlsCryptoInfoSizes, probeKtls, relayKtls, type KtlsRelayEnd,
} from '../../agent/kernel/index.js';
import { cryptoInfo, cryptoInfoSize, trafficKeys } from '../../agent/mesh/index.js';
import { openFds } from '../support/fd-count.js';
import { waitFor } from '../support/wait.js';

// This host (6.18, no CONFIG_TLS, no modules): the probe must say so with the kernel's own errnos,
// and mesh/ then runs the userspace fallback. The kTLS path itself is tested in the VM
// (test/vm/ktls-native-6.1.test.ts); here, the probe, the fd handling and the relay's plumbing.

let server: Server;
const accepted: Socket[] = [];
const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

async function nodePair(): Promise<[Socket, Socket]> {
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, allowHalfOpen: true });
  client.pause();
  await new Promise<void>((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
  await waitFor('the accept', () => accepted.length > 0);
  return [client, accepted.shift() as Socket];
}

function take<T extends OwnedSocket>(s: Socket, make: (fd: number) => T): T {
  (s as unknown as { _handle: { readStop(): void } })._handle.readStop();
  const owned = make(fdOf(s));
  s.destroy();
  return owned;
}

function outcome(app: Socket): Promise<{ data: string; ended: boolean; error: string | undefined }> {
  return new Promise((resolve) => {
    let data = '';
    let ended = false;
    let error: string | undefined;
    app.on('data', (b: Buffer) => { data += b.toString(); });
    app.on('end', () => { ended = true; });
    app.on('error', (e: NodeJS.ErrnoException) => { error = e.code; });
    app.on('close', () => resolve({ data, ended, error }));
    app.resume();
  });
}

beforeAll(async () => {
  server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('kTLS probe on this host', () => {
  it('says userspace, naming ENOENT (TCP_ULP) and ENOPROTOOPT (TLS_TX), and closes everything it opened', async () => {
    const before = await openFds();
    const result = await probeKtls({ cryptoInfoSize });
    expect(result).toEqual({ mode: 'userspace', ciphers: [], detail: expect.stringContaining('TCP_ULP "tls" gives ENOENT') });
    expect(result.detail).toContain('TLS_TX: ENOPROTOOPT');
    expect(await openFds()).toBe(before);
    expect(accepted).toHaveLength(0);
  });

  it('agrees with the static feature check, which finds no tls ULP and no tls.ko here', async () => {
    const ktls = (await detectKernelFeatures()).find((f) => f.name === 'ktls');
    expect(ktls?.state).toBe('missing');
  });

  it('takes mesh/\'s crypto_info packing (the addon\'s sizeof each struct) and refuses a mismatch as ABI_MISMATCH', async () => {
    const sizes = ktlsCryptoInfoSizes();
    expect(sizes).toEqual({ 'aes-128-gcm': 40, 'aes-256-gcm': 56, 'chacha20-poly1305': 56 });
    for (const c of KTLS_CIPHERS) expect(cryptoInfoSize(c)).toBe(sizes[c]);
    const err = await probeKtls({ cryptoInfoSize: (c) => (c === 'aes-256-gcm' ? 40 : cryptoInfoSize(c)) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect(err).toMatchObject({ code: 'ABI_MISMATCH', message: expect.stringContaining('aes-256-gcm') });
  });

  it('a socket\'s own calls fail typed: ULP ENOENT, TLS_RX ENOPROTOOPT; a reset is seen as ECONNRESET', async () => {
    const before = await openFds();
    const [a, b] = await nodePair();
    const tls = take(a, KtlsSocket.dup);
    const peer = outcome(b);
    expect(() => tls.ulp()).toThrow(expect.objectContaining({ code: 'SYSCALL', errno: 'ENOENT', syscall: 'setsockopt' }));
    const info = cryptoInfo(trafficKeys('aes-128-gcm', Buffer.alloc(32, 1)), 0n);
    expect(() => tls.setCrypto('rx', info)).toThrow(expect.objectContaining({ errno: 'ENOPROTOOPT' }));
    expect(tls.inq()).toBe(0);
    tls.reset();
    expect(tls.open).toBe(false);
    expect(() => tls.inq()).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    tls.reset(); // once only
    expect(await peer).toEqual({ data: '', ended: false, error: 'ECONNRESET' });
    expect(await openFds()).toBe(before);
  });

  it('recvRecord waits on the loop, not the thread, and times out as ETIMEDOUT', async () => {
    const [a, b] = await nodePair();
    const tls = take(a, KtlsSocket.dup);
    try {
      let ticks = 0;
      const timer = setInterval(() => { ticks++; }, 5);
      await expect(tls.recvRecord(64, 150)).rejects.toMatchObject({ errno: 'ETIMEDOUT' });
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(5);
      const later = tls.recvRecord(64, 5_000);
      b.write('plain');
      expect(await later).toEqual({ type: 0, data: Buffer.from('plain') }); // no kTLS: no record type
      b.end();
      expect(await tls.recvRecord(64, 5_000)).toBeNull();
    } finally {
      tls.close();
      b.destroy();
    }
  });
});

describe('the native relay\'s plumbing without kTLS (its kTLS behaviour is tested in the VM)', () => {
  it('moves bytes both ways; the "TLS" side\'s EOF without close_notify is truncation and resets the workload', async () => {
    const [app, agentPlain] = await nodePair();
    const [agentTls, peer] = await nodePair();
    const atApp = outcome(app);
    const atPeer = outcome(peer);
    let onEnd: (end: KtlsRelayEnd) => void = () => undefined;
    const ended = new Promise<KtlsRelayEnd>((resolve) => { onEnd = resolve; });
    const relay = relayKtls(take(agentPlain, OwnedSocket.dup), take(agentTls, KtlsSocket.dup), onEnd);
    expect(relay.counts()).toEqual({ toTls: 0, fromTls: 0 });
    app.write('up');
    await waitFor('bytes at the peer', () => peer.bytesRead === 2);
    peer.write('down');
    await waitFor('bytes at the app', () => app.bytesRead === 4);
    expect(relay.counts()).toEqual({ toTls: 2, fromTls: 4 }); // live, from the relay thread
    // libuv reports an RST that arrives behind unread data as a clean EOF (POLLHUP after a
    // partial read): the FIN follows only once the app has read everything.
    peer.end(); // a FIN without close_notify
    expect(await ended).toEqual({ toTls: 2, fromTls: 4, reason: 'truncated' });
    expect(relay.counts()).toBeNull();
    expect((await atApp).error).toBe('ECONNRESET');
    expect((await atPeer).error).toBe('ECONNRESET'); // the relay resets the tunnel side too
  });

  it('a workload reset ends the relay as error:ECONNRESET and resets the other side; many relays share one thread', async () => {
    const threads = (): number => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    const threadsBefore = threads();
    const before = await openFds(); // the relay thread's epoll and eventfd exist since the test above
    const runs = await Promise.all(Array.from({ length: 20 }, async () => {
      const [app, agentPlain] = await nodePair();
      const [agentTls, peer] = await nodePair();
      const atPeer = outcome(peer);
      const end = new Promise<KtlsRelayEnd>((resolve) => relayKtls(take(agentPlain, OwnedSocket.dup), take(agentTls, KtlsSocket.dup), resolve));
      return { app, atPeer, end };
    }));
    expect(threads()).toBeLessThanOrEqual(threadsBefore + 1); // at most the relay thread, started once
    for (const r of runs) r.app.resetAndDestroy();
    for (const r of runs) {
      expect((await r.end).reason).toBe('error:ECONNRESET');
      expect((await r.atPeer).error).toBe('ECONNRESET');
    }
    expect(await openFds()).toBe(before);
  });

  it('refuses a closed socket before taking either', async () => {
    const [a, b] = await nodePair();
    const [c, d] = await nodePair();
    const plain = take(a, OwnedSocket.dup);
    const tls = take(c, KtlsSocket.dup);
    plain.close();
    expect(() => relayKtls(plain, tls, () => undefined)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect(tls.open).toBe(true);
    tls.close();
    b.destroy();
    d.destroy();
  });
});
