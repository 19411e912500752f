import { describe, expect, it } from 'vitest';
import { MeshError, TrafficSecrets, ktlsCipherOf } from '../../../agent/mesh/index.js';
import type { TLSSocket } from 'node:tls';

const RANDOM = 'ab'.repeat(32);
const line = (label: string, secretHex: string): Buffer => Buffer.from(`${label} ${RANDOM} ${secretHex}\n`, 'latin1');
const socketWithSuite = (standardName: string): TLSSocket => ({ getCipher: () => ({ standardName }) }) as unknown as TLSSocket;

describe('TrafficSecrets: the two application secrets from keylog lines', () => {
  it('keeps CLIENT_/SERVER_TRAFFIC_SECRET_0, drops the rest, zeroes each line, and hands the secrets over once', () => {
    const s = new TrafficSecrets();
    const lines = [
      line('SERVER_HANDSHAKE_TRAFFIC_SECRET', '01'.repeat(32)), line('CLIENT_TRAFFIC_SECRET_0', '02'.repeat(32)),
      line('EXPORTER_SECRET', '03'.repeat(32)), line('SERVER_TRAFFIC_SECRET_0', '04'.repeat(32)),
    ];
    for (const l of lines) s.add(l);
    for (const l of lines) expect(l.every((b) => b === 0)).toBe(true);
    const { client, server } = s.take();
    expect([client.toString('hex'), server.toString('hex')]).toEqual(['02'.repeat(32), '04'.repeat(32)]);
    expect(() => s.take()).toThrow(expect.objectContaining({ code: 'BAD_KEYLOG' }));
  });

  it('zero() overwrites what it holds', () => {
    const s = new TrafficSecrets();
    s.add(line('CLIENT_TRAFFIC_SECRET_0', '05'.repeat(48)));
    s.add(line('SERVER_TRAFFIC_SECRET_0', '06'.repeat(48)));
    s.zero();
    expect(() => s.take()).toThrow(MeshError);
  });

  it('refuses a malformed line', () => {
    expect(() => new TrafficSecrets().add(Buffer.from('CLIENT_TRAFFIC_SECRET_0 nothex\n'))).toThrow(expect.objectContaining({ code: 'BAD_KEYLOG' }));
  });
});

describe('ktlsCipherOf: kTLS only for a suite the probe found the kernel takes', () => {
  it.each([
    ['TLS_AES_128_GCM_SHA256', ['aes-128-gcm'], 'aes-128-gcm'],
    ['TLS_CHACHA20_POLY1305_SHA256', ['aes-128-gcm', 'chacha20-poly1305'], 'chacha20-poly1305'],
    ['TLS_AES_256_GCM_SHA384', ['aes-128-gcm'], undefined],
    ['TLS_AES_128_CCM_SHA256', ['aes-128-gcm'], undefined],
  ] as const)('%s with %j → %s', (suite, ciphers, want) => {
    expect(ktlsCipherOf(socketWithSuite(suite), { ciphers })).toBe(want);
  });

  it('no data path: Node relays', () => {
    expect(ktlsCipherOf(socketWithSuite('TLS_AES_128_GCM_SHA256'), undefined)).toBeUndefined();
  });
});
