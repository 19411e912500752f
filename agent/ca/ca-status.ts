import type { X509Certificate } from 'node:crypto';
import type { CaState, JwtKey, X509Authority } from './authority.js';
import { jwtAlgorithm, type CaKeyType, type JwtAlgorithm } from './key-type.js';
import { retireAt, type Lifecycle, type SlotState } from './lifecycle.js';

/** One CA certificate as `tether ca show` prints it. */
export interface CaCertificateStatus {
  readonly subject: string;
  /** As `openssl x509 -fingerprint -sha256` prints it: upper-case hex pairs joined by ':'. */
  readonly fingerprintSha256: string;
  readonly serialHex: string;
  readonly notAfter: Date;
}

export interface X509AuthorityStatus {
  readonly id: string;
  readonly state: SlotState;
  readonly keyType: CaKeyType;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly root: CaCertificateStatus;
  readonly intermediate: CaCertificateStatus | undefined;
  readonly lifecycle: Lifecycle;
  /** When it leaves the bundle, once known (retiring: its last SVID's expiry at the latest). */
  readonly retireAt: Date | undefined;
}

export interface JwtKeyStatus {
  readonly kid: string;
  readonly state: SlotState;
  readonly keyType: CaKeyType;
  readonly alg: JwtAlgorithm;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly lifecycle: Lifecycle;
  readonly retireAt: Date | undefined;
}

/**
 * Where the X.509 authority comes from: `local`, a root of this agent's own (its bundle is its
 * own), or `upstream`, the shared `ca.upstream` root (its bundle is that root; this agent signs
 * with its own intermediate under it).
 */
export type CaMode = 'local' | 'upstream';

/** What `tether ca show` prints: no key material, ever. */
export interface CaStatus {
  readonly trustDomain: string;
  readonly mode: CaMode;
  /** The upstream root, in upstream mode (each slot's intermediate has its own expiry). */
  readonly upstream: CaCertificateStatus | undefined;
  readonly x509: readonly X509AuthorityStatus[];
  readonly jwt: readonly JwtKeyStatus[];
}

export function describeCaState(trustDomain: string, state: CaState): CaStatus {
  const current = state.x509.find((a) => a.lifecycle.state === 'active') ?? state.x509.find((a) => a.lifecycle.state === 'prepared');
  const upstream = current?.upstream === true ? describeCertificate(current.root.cert) : undefined;
  return {
    trustDomain, mode: upstream === undefined ? 'local' : 'upstream', upstream,
    x509: state.x509.map(describeX509), jwt: state.jwt.map(describeJwt),
  };
}

function describeX509(a: X509Authority): X509AuthorityStatus {
  return {
    id: a.id, state: a.lifecycle.state, keyType: a.keyType, notBefore: a.notBefore, notAfter: a.notAfter,
    root: describeCertificate(a.root.cert),
    intermediate: a.intermediate === undefined ? undefined : describeCertificate(a.intermediate.cert),
    lifecycle: a.lifecycle, retireAt: retireAt(a),
  };
}

function describeJwt(k: JwtKey): JwtKeyStatus {
  return {
    kid: k.id, state: k.lifecycle.state, keyType: k.keyType, alg: jwtAlgorithm(k.keyType),
    notBefore: k.notBefore, notAfter: k.notAfter, lifecycle: k.lifecycle, retireAt: retireAt(k),
  };
}

function describeCertificate(cert: X509Certificate): CaCertificateStatus {
  return {
    subject: cert.subject.split('\n').join(', '), fingerprintSha256: cert.fingerprint256, serialHex: cert.serialNumber,
    notAfter: new Date(cert.validTo),
  };
}
