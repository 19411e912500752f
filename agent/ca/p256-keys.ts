import { createECDH } from 'node:crypto';

/** A workload key, already encoded as the SVID and the Workload API carry it. */
export interface EncodedKeyPair {
  readonly spkiDer: Buffer;
  readonly pkcs8Der: Buffer;
}

// P-256 keys in the two fixed shapes they travel in (RFC 5480 SPKI; RFC 5208/5915 PKCS#8 with
// the public key): OpenSSL's generic encoders take ~170 µs a key here, these templates nothing.
const SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const PKCS8_PUBLIC = Buffer.from('a144034200', 'hex');

/** Encodes a P-256 key from its private scalar and uncompressed public point (0x04 || x || y). */
export function encodeP256(scalar: Buffer, point: Buffer): EncodedKeyPair {
  const d = scalar.length === 32 ? scalar : Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]);
  return { spkiDer: Buffer.concat([SPKI_PREFIX, point]), pkcs8Der: Buffer.concat([PKCS8_PREFIX, d, PKCS8_PUBLIC, point]) };
}

/**
 * Fresh ECDSA P-256 workload keys, made on the spot: ECDH's raw keygen (about 14 µs here) into
 * fixed DER templates. Keys generated ahead on libuv's thread pool were measured slower per key
 * (OpenSSL's EVP keygen plus a JWK export on the loop; bench/mint) and gave no wall-clock gain on
 * two cores, so there is no pool. One ECDH object is reused: generateKeys() replaces its pair.
 */
export class P256Keys {
  readonly #ecdh = createECDH('prime256v1');

  generate(): EncodedKeyPair {
    const point = this.#ecdh.generateKeys();
    return encodeP256(this.#ecdh.getPrivateKey(), point);
  }
}
