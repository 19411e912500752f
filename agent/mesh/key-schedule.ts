import { createHmac } from 'node:crypto';
import { endianness } from 'node:os';
import { MeshError } from './errors.js';

/** The TLS 1.3 ciphers kTLS takes (linux/tls.h), by the names mesh/ uses. */
export type KtlsCipher = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

type CipherSpec = { readonly hash: 'sha256' | 'sha384'; readonly keyLen: number; readonly kernelId: number; readonly infoLen: number };

// linux/tls.h: TLS_CIPHER_AES_GCM_128 51, _AES_GCM_256 52, _CHACHA20_POLY1305 54; sizeof each tls12_crypto_info_*.
const CIPHERS: Readonly<Record<KtlsCipher, CipherSpec>> = {
  'aes-128-gcm': { hash: 'sha256', keyLen: 16, kernelId: 51, infoLen: 40 },
  'aes-256-gcm': { hash: 'sha384', keyLen: 32, kernelId: 52, infoLen: 56 },
  'chacha20-poly1305': { hash: 'sha256', keyLen: 32, kernelId: 54, infoLen: 56 },
};

/** RFC 8446 B.4 suite names (what TLSSocket.getCipher().standardName reports) → cipher. */
const SUITES: Readonly<Record<string, KtlsCipher>> = {
  TLS_AES_128_GCM_SHA256: 'aes-128-gcm',
  TLS_AES_256_GCM_SHA384: 'aes-256-gcm',
  TLS_CHACHA20_POLY1305_SHA256: 'chacha20-poly1305',
};

/** The suites a tunnel offers, for Node's `ciphers` (it has no `ciphersuites`: MESH.md pitfall 1). */
export const TUNNEL_SUITES: readonly string[] = Object.keys(SUITES);

const TLS_1_3_VERSION = 0x0304;
const IV_LEN = 12;

export function cipherOfSuite(suite: string): KtlsCipher {
  const cipher = SUITES[suite];
  if (cipher === undefined) throw new MeshError('UNSUPPORTED_CIPHER', `TLS 1.3 suite ${suite} has no kTLS cipher`);
  return cipher;
}

/** The size of linux/tls.h's crypto_info for the cipher: start-up compares it with the addon's sizeof. */
export function cryptoInfoSize(cipher: KtlsCipher): number {
  return CIPHERS[cipher].infoLen;
}

/**
 * HKDF-Expand-Label(secret, label, "", len) (RFC 8446 7.1) with an empty context. Node has no
 * expand-only HKDF; for len ≤ the hash size HKDF-Expand is one HMAC block, T(1).
 */
export function hkdfExpandLabel(hash: 'sha256' | 'sha384', secret: Buffer, label: string, len: number): Buffer {
  const hashLen = hash === 'sha256' ? 32 : 48;
  if (!Number.isInteger(len) || len <= 0 || len > hashLen) throw new RangeError(`HKDF-Expand-Label length ${len} must be 1..${hashLen}`);
  const l = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.from([len >> 8, len & 255, l.length, ...l, 0 /* no context */, 1 /* T(1) */]);
  const block = createHmac(hash, secret).update(info).digest();
  const out = Buffer.from(block.subarray(0, len));
  block.fill(0);
  return out;
}

export type TrafficKeys = { readonly cipher: KtlsCipher; readonly key: Buffer; readonly iv: Buffer };

/** The record key and IV of one direction from its traffic secret (RFC 8446 7.3). */
export function trafficKeys(cipher: KtlsCipher, secret: Buffer): TrafficKeys {
  const spec = CIPHERS[cipher];
  const want = spec.hash === 'sha256' ? 32 : 48;
  if (secret.length !== want) {
    throw new MeshError('BAD_SECRET', `a ${cipher} traffic secret is ${want} bytes (${spec.hash}), got ${secret.length}`);
  }
  return { cipher, key: hkdfExpandLabel(spec.hash, secret, 'key', spec.keyLen), iv: hkdfExpandLabel(spec.hash, secret, 'iv', IV_LEN) };
}

/**
 * linux/tls.h's tls12_crypto_info_* for TLS 1.3: u16 version, u16 cipher (host order), then
 * AES-GCM: iv[4..12], key, salt = iv[0..4], rec_seq (u64 big-endian): 40 / 56 bytes;
 * ChaCha20-Poly1305: iv[12], key[32], no salt, rec_seq: 56 bytes. Zero it once installed.
 */
export function cryptoInfo(keys: TrafficKeys, recSeq: bigint): Buffer {
  const spec = CIPHERS[keys.cipher];
  if (keys.key.length !== spec.keyLen || keys.iv.length !== IV_LEN) {
    throw new MeshError('BAD_SECRET', `${keys.cipher} takes a ${spec.keyLen}-byte key and a 12-byte IV`);
  }
  if (recSeq < 0n || recSeq >= 1n << 64n) throw new RangeError(`record sequence ${recSeq} is not a u64`);
  const out = Buffer.alloc(spec.infoLen);
  const le = endianness() === 'LE';
  if (le) {
    out.writeUInt16LE(TLS_1_3_VERSION, 0);
    out.writeUInt16LE(spec.kernelId, 2);
  } else {
    out.writeUInt16BE(TLS_1_3_VERSION, 0);
    out.writeUInt16BE(spec.kernelId, 2);
  }
  let at = 4;
  if (keys.cipher === 'chacha20-poly1305') {
    at += keys.iv.copy(out, at);
    at += keys.key.copy(out, at);
  } else {
    at += keys.iv.copy(out, at, 4, 12);
    at += keys.key.copy(out, at);
    at += keys.iv.copy(out, at, 0, 4);
  }
  out.writeBigUInt64BE(recSeq, at);
  return out;
}

/** The keylog labels mesh/ uses: the first application traffic secrets of each direction. */
export type TrafficSecretLabel = 'CLIENT_TRAFFIC_SECRET_0' | 'SERVER_TRAFFIC_SECRET_0';
export type KeylogSecret = { readonly label: TrafficSecretLabel; readonly clientRandom: Buffer; readonly secret: Buffer };

const KEYLOG_LINE = /^([A-Z0-9_]+) ([0-9a-f]{64}) ((?:[0-9a-f]{2}){32}|(?:[0-9a-f]{2}){48})\n?$/;

/**
 * One NSS keylog line, as Node's `keylog` event gives it (a Buffer ending in "\n"). Returns the
 * secret for the two application traffic labels, undefined for any other well-formed line
 * (handshake and exporter secrets); a malformed line throws BAD_KEYLOG. Never log the line.
 */
export function parseKeylogLine(line: Buffer | string): KeylogSecret | undefined {
  const text = typeof line === 'string' ? line : line.toString('latin1');
  const m = KEYLOG_LINE.exec(text);
  if (m === null) throw new MeshError('BAD_KEYLOG', `not a TLS 1.3 keylog line (${text.length} characters)`);
  const [, label, random, secret] = m as unknown as [string, string, string, string];
  if (label !== 'CLIENT_TRAFFIC_SECRET_0' && label !== 'SERVER_TRAFFIC_SECRET_0') return undefined;
  return { label, clientRandom: Buffer.from(random, 'hex'), secret: Buffer.from(secret, 'hex') };
}

/** Overwrites each buffer with zeros (MESH.md pitfall 6): secrets, keys, crypto_info once installed. */
export function zero(...buffers: ReadonlyArray<Buffer | undefined>): void {
  for (const b of buffers) b?.fill(0);
}

/** Zeros a TrafficKeys' key and IV. */
export function zeroKeys(keys: TrafficKeys): void {
  zero(keys.key, keys.iv);
}
