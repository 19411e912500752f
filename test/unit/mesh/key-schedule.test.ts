import { createDecipheriv } from 'node:crypto';
import { createServer as createNetServer, connect as netConnect, type AddressInfo, type Server as NetServer } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { endianness } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MeshError, TUNNEL_SUITES, cipherOfSuite, cryptoInfo, cryptoInfoSize, hkdfExpandLabel, parseKeylogLine, trafficKeys, zero, zeroKeys,
  type KtlsCipher, type TrafficKeys,
} from '../../../agent/mesh/index.js';
import { issue, LEAF_USAGES } from '../../support/x509-certs.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 8448 section 3, "Simple 1-RTT Handshake" (TLS_AES_128_GCM_SHA256): each traffic secret and
// the write key and IV the RFC derives from it.
const RFC8448 = [
  { name: 'server handshake', secret: 'b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38',
    key: '3fce516009c21727d0f2e4e86ee403bc', iv: '5d313eb2671276ee13000b30' },
  { name: 'client handshake', secret: 'b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21',
    key: 'dbfaa693d1762c5b666af5d950258d01', iv: '5bd3c71b836e0b76bb73265f' },
  { name: 'server application', secret: 'a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643',
    key: '9f02283b6c9c07efc26bb9f2ac92e356', iv: 'cf782b88dd83549aadf1e984' },
  { name: 'client application', secret: '9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5',
    key: '17422dda596ed5d9acd890e3c63f5051', iv: '5b78923dee08579033e523d9' },
];

describe('trafficKeys: RFC 8448 simple 1-RTT handshake', () => {
  it.each(RFC8448)('$name traffic secret → key and iv', ({ secret, key, iv }) => {
    const keys = trafficKeys('aes-128-gcm', hex(secret));
    expect(keys.key.toString('hex')).toBe(key);
    expect(keys.iv.toString('hex')).toBe(iv);
  });

  it('refuses a secret of the wrong length for the cipher hash', () => {
    expect(() => trafficKeys('aes-256-gcm', Buffer.alloc(32))).toThrow(expect.objectContaining({ code: 'BAD_SECRET' }));
    expect(() => trafficKeys('aes-128-gcm', Buffer.alloc(48))).toThrow(MeshError);
  });

  it('expands only within one HMAC block', () => {
    expect(hkdfExpandLabel('sha384', Buffer.alloc(48, 1), 'key', 48)).toHaveLength(48);
    expect(() => hkdfExpandLabel('sha256', Buffer.alloc(32), 'key', 33)).toThrow(RangeError);
  });
});

describe('cryptoInfo: linux/tls.h tls12_crypto_info_*', () => {
  const u16 = (b: Buffer, at: number): number => (endianness() === 'LE' ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const keysOf = (cipher: KtlsCipher, keyLen: number): TrafficKeys => ({
    cipher, key: Buffer.from(Array.from({ length: keyLen }, (_, i) => 0x40 + i)), iv: hex('a0a1a2a3a4a5a6a7a8a9aaab'),
  });

  it('packs AES-128-GCM in 40 bytes: version, cipher 51, iv[4..12], key, salt iv[0..4], rec_seq BE', () => {
    const info = cryptoInfo(keysOf('aes-128-gcm', 16), 0x0102030405060708n);
    expect(info).toHaveLength(40);
    expect(cryptoInfoSize('aes-128-gcm')).toBe(40);
    expect([u16(info, 0), u16(info, 2)]).toEqual([0x0304, 51]);
    expect(info.subarray(4, 12).toString('hex')).toBe('a4a5a6a7a8a9aaab');
    expect(info.subarray(12, 28)).toEqual(keysOf('aes-128-gcm', 16).key);
    expect(info.subarray(28, 32).toString('hex')).toBe('a0a1a2a3');
    expect(info.subarray(32, 40).toString('hex')).toBe('0102030405060708');
  });

  it('packs AES-256-GCM in 56 bytes with cipher 52', () => {
    const info = cryptoInfo(keysOf('aes-256-gcm', 32), 3n);
    expect(info).toHaveLength(56);
    expect(u16(info, 2)).toBe(52);
    expect(info.subarray(4, 12).toString('hex')).toBe('a4a5a6a7a8a9aaab');
    expect(info.subarray(12, 44)).toEqual(keysOf('aes-256-gcm', 32).key);
    expect(info.subarray(44, 48).toString('hex')).toBe('a0a1a2a3');
    expect(info.readBigUInt64BE(48)).toBe(3n);
  });

  it('packs ChaCha20-Poly1305 in 56 bytes with cipher 54: the whole iv, the key, no salt', () => {
    const info = cryptoInfo(keysOf('chacha20-poly1305', 32), 1n);
    expect(info).toHaveLength(56);
    expect(u16(info, 2)).toBe(54);
    expect(info.subarray(4, 16).toString('hex')).toBe('a0a1a2a3a4a5a6a7a8a9aaab');
    expect(info.subarray(16, 48)).toEqual(keysOf('chacha20-poly1305', 32).key);
    expect(info.readBigUInt64BE(48)).toBe(1n);
  });

  it('refuses keys of the wrong size and sequences outside u64', () => {
    expect(() => cryptoInfo(keysOf('aes-256-gcm', 16), 0n)).toThrow(expect.objectContaining({ code: 'BAD_SECRET' }));
    expect(() => cryptoInfo(keysOf('aes-128-gcm', 16), 1n << 64n)).toThrow(RangeError);
  });

  it('zeroes keys and buffers', () => {
    const keys = keysOf('aes-128-gcm', 16);
    const info = cryptoInfo(keys, 0n);
    zeroKeys(keys);
    zero(info, undefined);
    expect([...keys.key, ...keys.iv, ...info].every((b) => b === 0)).toBe(true);
  });
});

describe('parseKeylogLine and suites', () => {
  const random = 'ab'.repeat(32);
  it('takes the two application traffic secrets and skips the other labels', () => {
    const got = parseKeylogLine(Buffer.from(`SERVER_TRAFFIC_SECRET_0 ${random} ${'cd'.repeat(48)}\n`));
    expect(got?.label).toBe('SERVER_TRAFFIC_SECRET_0');
    expect(got?.clientRandom.toString('hex')).toBe(random);
    expect(got?.secret).toHaveLength(48);
    expect(parseKeylogLine(`CLIENT_TRAFFIC_SECRET_0 ${random} ${'01'.repeat(32)}`)?.secret).toHaveLength(32);
    expect(parseKeylogLine(`CLIENT_HANDSHAKE_TRAFFIC_SECRET ${random} ${'01'.repeat(32)}\n`)).toBeUndefined();
  });

  it.each([
    ['no secret', `CLIENT_TRAFFIC_SECRET_0 ${random}\n`],
    ['short random', `CLIENT_TRAFFIC_SECRET_0 abcd ${'01'.repeat(32)}\n`],
    ['odd secret length', `CLIENT_TRAFFIC_SECRET_0 ${random} ${'01'.repeat(40)}\n`],
    ['upper-case hex', `CLIENT_TRAFFIC_SECRET_0 ${random.toUpperCase()} ${'01'.repeat(32)}\n`],
    ['TLS 1.2 line', `CLIENT_RANDOM ${random} ${'01'.repeat(48)} extra\n`],
  ])('refuses a malformed line: %s', (_name, line) => {
    expect(() => parseKeylogLine(line)).toThrow(expect.objectContaining({ code: 'BAD_KEYLOG' }));
  });

  it('maps the RFC 8446 suite names and refuses others', () => {
    expect(TUNNEL_SUITES.map(cipherOfSuite)).toEqual(['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305']);
    expect(() => cipherOfSuite('TLS_AES_128_CCM_SHA256')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CIPHER' }));
  });
});

// ---- Against OpenSSL: a real TLS 1.3 connection on loopback, its records decrypted with our keys.

type Record = { readonly header: Buffer; readonly body: Buffer };

function records(wire: Buffer): Record[] {
  const out: Record[] = [];
  for (let at = 0; at + 5 <= wire.length;) {
    const len = wire.readUInt16BE(at + 3);
    out.push({ header: wire.subarray(at, at + 5), body: wire.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

/** TLS 1.3 record decryption (RFC 8446 5.2-5.3): nonce = iv XOR seq; inner = content ‖ type ‖ zeros. */
function open(keys: TrafficKeys, seq: bigint, rec: Record): { type: number; content: Buffer } | undefined {
  const nonce = Buffer.from(keys.iv);
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(seq);
  for (let i = 0; i < 8; i++) nonce[4 + i] = (nonce[4 + i] as number) ^ (seqBytes[i] as number);
  const algorithm = keys.cipher === 'chacha20-poly1305' ? 'chacha20-poly1305' : keys.cipher;
  const decipher = createDecipheriv(algorithm, keys.key, nonce, { authTagLength: 16 } as never) as ReturnType<typeof createDecipheriv> & {
    setAAD(b: Buffer): void; setAuthTag(b: Buffer): void;
  };
  decipher.setAAD(rec.header);
  decipher.setAuthTag(rec.body.subarray(rec.body.length - 16));
  try {
    const inner = Buffer.concat([decipher.update(rec.body.subarray(0, rec.body.length - 16)), decipher.final()]);
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    return { type: inner[end] as number, content: inner.subarray(0, end) };
  } catch {
    return undefined;
  }
}

/** Every application-key record of one direction, in order: handshake-key records come first and fail. */
function decryptDirection(wire: Buffer, keys: TrafficKeys): Array<{ type: number; content: Buffer }> {
  const out: Array<{ type: number; content: Buffer }> = [];
  let seq = 0n;
  for (const rec of records(wire).filter((r) => r.header[0] === 23)) {
    const got = open(keys, seq, rec);
    if (got === undefined && seq === 0n) continue; // still under the handshake keys
    expect(got, `application record ${seq} decrypts`).toBeDefined();
    out.push(got as { type: number; content: Buffer });
    seq++;
  }
  return out;
}

const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

async function loopbackExchange(suite: string): Promise<{ toServer: Buffer; toClient: Buffer; keylog: Buffer[]; negotiated: string }> {
  const cert = await issue({ subject: 'CN=loopback', usages: LEAF_USAGES, dns: ['localhost'] });
  const keylog: Buffer[] = [];
  const server: TlsServer = createTlsServer({ cert: cert.pem, key: cert.keyPem, minVersion: 'TLSv1.3', ciphers: suite }, (s) => {
    s.once('data', () => s.end('hello from server'));
  });
  server.on('keylog', (line: Buffer) => keylog.push(line));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const proxy: NetServer = createNetServer((c) => {
    const up = netConnect((server.address() as AddressInfo).port, '127.0.0.1');
    c.on('data', (b: Buffer) => { toServer.push(b); up.write(b); });
    up.on('data', (b: Buffer) => { toClient.push(b); c.write(b); });
    c.on('end', () => up.end());
    up.on('end', () => c.end());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  closers.push(() => server.close(), () => proxy.close());
  const client = tlsConnect({ port: (proxy.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3', ciphers: suite });
  const negotiated = await new Promise<string>((resolve, reject) => {
    client.once('secureConnect', () => {
      client.write('hello from client');
      resolve(client.getCipher().standardName);
    });
    client.once('error', reject);
  });
  await new Promise<void>((r) => { client.resume(); client.once('end', () => { client.end(); r(); }); });
  await new Promise((r) => setTimeout(r, 50));
  return { toServer: Buffer.concat(toServer), toClient: Buffer.concat(toClient), keylog, negotiated };
}

describe('trafficKeys against OpenSSL: records of a real TLS 1.3 connection decrypt', () => {
  it.each(TUNNEL_SUITES)('%s', async (suite) => {
    const { toServer, toClient, keylog, negotiated } = await loopbackExchange(suite);
    expect(negotiated).toBe(suite);
    const cipher = cipherOfSuite(negotiated);
    const secrets = keylog.map((l) => parseKeylogLine(l)).filter((s) => s !== undefined);
    const secret = (label: string): Buffer => secrets.find((s) => s.label === label)?.secret as Buffer;
    const fromServer = decryptDirection(toClient, trafficKeys(cipher, secret('SERVER_TRAFFIC_SECRET_0')));
    const fromClient = decryptDirection(toServer, trafficKeys(cipher, secret('CLIENT_TRAFFIC_SECRET_0')));
    // Node's server spends its first sequence numbers on NewSessionTickets (type 22, message 4).
    const tickets = fromServer.filter((r) => r.type === 22 && r.content[0] === 4);
    expect(tickets.length).toBeGreaterThanOrEqual(1);
    expect(fromServer.filter((r) => r.type === 23).map((r) => r.content.toString())).toEqual(['hello from server']);
    expect(fromClient.filter((r) => r.type === 23).map((r) => r.content.toString())).toEqual(['hello from client']);
    // close_notify (alert 1, 0) ends each direction.
    expect(fromClient.at(-1)).toMatchObject({ type: 21 });
    expect(fromClient.at(-1)?.content).toEqual(Buffer.from([1, 0]));
  });
});
