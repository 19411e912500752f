import { webcrypto, type KeyObject } from 'node:crypto';
import { CaError } from './errors.js';

/** The key types an authority signs with, by SPIRE's names (its `ca_key_type`); SPIRE's default is ec-p256. */
export type CaKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048';
export const CA_KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048'] as const satisfies readonly CaKeyType[];
export const DEFAULT_CA_KEY_TYPE: CaKeyType = 'ec-p256';

/** The JWS algorithm a JWT signing key of each type signs with (JWT-SVID.md allows ES*, RS*, PS*). */
export type JwtAlgorithm = 'ES256' | 'ES384' | 'RS256';

interface KeyTypeSpec {
  /** WebCrypto parameters: @peculiar/x509 builds CA certificates with WebCrypto keys. */
  readonly generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams;
  /** How a CA of this type signs the certificates it issues (hash matched to the key's strength). */
  readonly sign: webcrypto.EcdsaParams | webcrypto.Algorithm;
  readonly hash: 'sha256' | 'sha384';
  readonly jwtAlg: JwtAlgorithm;
}

const SPECS = {
  'ec-p256': {
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
    hash: 'sha256',
    jwtAlg: 'ES256',
  },
  'ec-p384': {
    generate: { name: 'ECDSA', namedCurve: 'P-384' },
    sign: { name: 'ECDSA', hash: 'SHA-384' },
    hash: 'sha384',
    jwtAlg: 'ES384',
  },
  'rsa-2048': {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
    hash: 'sha256',
    jwtAlg: 'RS256',
  },
} as const satisfies Record<CaKeyType, KeyTypeSpec>;

export function isCaKeyType(value: string): value is CaKeyType {
  return (CA_KEY_TYPES as readonly string[]).includes(value);
}

export function parseCaKeyType(value: string): CaKeyType {
  if (isCaKeyType(value)) return value;
  throw new CaError('BAD_KEY_TYPE', `key type "${value}" is not one of ${CA_KEY_TYPES.join(', ')}`);
}

/** A fresh, extractable key pair for a CA or JWT signing key (extractable: it is written to the state dir). */
export async function generateKeyPair(type: CaKeyType): Promise<webcrypto.CryptoKeyPair> {
  const spec = SPECS[type];
  const usages: webcrypto.KeyUsage[] = ['sign', 'verify'];
  return webcrypto.subtle.generateKey(spec.generate, true, usages);
}

/** A loaded key as the non-extractable WebCrypto signing key @peculiar/x509 signs certificates with. */
export async function webCryptoSigningKey(key: KeyObject, type: CaKeyType): Promise<webcrypto.CryptoKey> {
  const spec = SPECS[type].generate;
  const params = spec.name === 'ECDSA' ? { name: spec.name, namedCurve: spec.namedCurve } : { name: spec.name, hash: spec.hash };
  return webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), params, false, ['sign']);
}

/** The algorithm @peculiar/x509 signs a certificate with, for an issuer key of this type. */
export function certificateSigningAlgorithm(type: CaKeyType): webcrypto.EcdsaParams | webcrypto.Algorithm {
  return SPECS[type].sign;
}

/** The digest node:crypto's sign() takes for an issuer key of this type. */
export function signingHash(type: CaKeyType): 'sha256' | 'sha384' {
  return SPECS[type].hash;
}

export function jwtAlgorithm(type: CaKeyType): JwtAlgorithm {
  return SPECS[type].jwtAlg;
}

/**
 * What a loaded key is, so that a key file is checked against the type the manifest records:
 * undefined for anything we do not issue with (another curve, another RSA size, Ed25519 ...).
 */
export function keyTypeOf(key: KeyObject): CaKeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'ec-p256';
    if (details?.namedCurve === 'secp384r1') return 'ec-p384';
    return undefined;
  }
  if (key.asymmetricKeyType === 'rsa' && details?.modulusLength === 2048) return 'rsa-2048';
  return undefined;
}
