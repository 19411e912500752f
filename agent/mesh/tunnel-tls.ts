import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { DetailedPeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';
import { SpiffeError, type SpiffeId, type TrustDomain, type X509Bundle } from '../spiffe/index.js';
import { MeshError } from './errors.js';
import { TUNNEL_SUITES } from './key-schedule.js';
import { VerifiedPeers } from './verified-peers.js';

/**
 * An X509-SVID as a tunnel presents it: DER chain, leaf first, and the leaf's PKCS#8 key. Both
 * ca/'s MintedX509Svid and svid/'s CachedX509Svid have this shape.
 */
export interface TunnelSvid {
  readonly chain: readonly Buffer[];
  readonly privateKeyPkcs8: Buffer;
}

/** Whom a tunnel end trusts: its own trust domain and that domain's bundle now (it rotates). */
export interface TunnelTrust {
  readonly trustDomain: TrustDomain;
  readonly bundle: () => X509Bundle;
  readonly now: () => Date;
}

/**
 * SecureContext options for one tunnel end: TLS 1.3 only with the kTLS suites named in `ciphers`
 * (Node ignores `ciphersuites`), the SVID's chain and key, the bundle as CA list. Certificates are
 * requested but not checked by OpenSSL (`rejectUnauthorized: false` at the socket): checkPeer does
 * the SPIFFE rules after the handshake, so a refusal has a reason rather than an alert.
 */
export function tunnelContextOptions(svid: TunnelSvid, bundle: X509Bundle): SecureContextOptions {
  const key = createPrivateKey({ key: svid.privateKeyPkcs8, format: 'der', type: 'pkcs8' });
  return {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: TUNNEL_SUITES.join(':'),
    cert: svid.chain.map((der) => new X509Certificate(der).toString()).join(''),
    key: key.export({ type: 'pkcs8', format: 'pem' }),
    ca: bundle.toPem(),
    // One tunnel per connection; a resumed session would carry an old peer check.
    sessionTimeout: 0,
  };
}

/**
 * SNI of a tunnel: the destination port as a DNS label, `p<port>.tether` ("p8080.tether"). The
 * server picks the destination workload's SVID by it before CONNECT arrives (MESH.md §7). It names
 * no host: the server only ever connects to its own host.
 */
export function sniForPort(port: number): string {
  return `p${port}.tether`;
}

const SNI = /^p([1-9][0-9]{0,4})\.tether$/;

/** The port an SNI names, or undefined when it is not `p<1..65535>.tether`. */
export function portOfSni(servername: string | undefined): number | undefined {
  const m = servername === undefined ? null : SNI.exec(servername);
  const port = m === null ? NaN : Number(m[1]);
  return port >= 1 && port <= 65535 ? port : undefined;
}

export type PeerCheck = { readonly ok: true; readonly id: SpiffeId } | { readonly ok: false; readonly error: MeshError };

/**
 * The peer's SPIFFE ID after the handshake: its chain verified against the bundle of our trust
 * domain (spiffe/verifyX509Svid: exactly one spiffe:// URI SAN, leaf rules, path, validity at
 * now; a chain seen before against the same bundle has only its validity re-checked:
 * VerifiedPeers). Any other trust domain is refused: tunnels do not federate (yet).
 */
export function checkPeer(socket: TLSSocket, trust: TunnelTrust): PeerCheck {
  const chain = peerChain(socket);
  if (chain.length === 0) return refuse('PEER_NO_CERTIFICATE', 'the peer presented no certificate');
  try {
    return { ok: true, id: verifiedPeersOf(trust).verify(chain, trust.trustDomain, trust.bundle(), trust.now()) };
  } catch (err) {
    if (err instanceof SpiffeError && err.code === 'NO_BUNDLE_FOR_TRUST_DOMAIN') {
      return refuse('PEER_FOREIGN_TRUST_DOMAIN', `the peer's SVID is not of trust domain ${trust.trustDomain.name}: ${err.message}`, err);
    }
    const why = err instanceof SpiffeError ? `${err.code}: ${err.message}` : String(err);
    return refuse('PEER_INVALID_SVID', `the peer's SVID does not verify: ${why}`, err);
  }
}

/** One memory of verified chains per trust (each tunnel end keeps its trust for its lifetime). */
const verifiedPeers = new WeakMap<TunnelTrust, VerifiedPeers>();

function verifiedPeersOf(trust: TunnelTrust): VerifiedPeers {
  let peers = verifiedPeers.get(trust);
  if (peers === undefined) verifiedPeers.set(trust, (peers = new VerifiedPeers()));
  return peers;
}

function refuse(code: 'PEER_NO_CERTIFICATE' | 'PEER_FOREIGN_TRUST_DOMAIN' | 'PEER_INVALID_SVID', message: string, cause?: unknown): PeerCheck {
  return { ok: false, error: new MeshError(code, message, cause === undefined ? undefined : { cause }) };
}

/**
 * The chain the peer sent, leaf first, as DER. Node links each certificate to its issuer, from
 * the peer's chain and then from our CA list, ending at a self-signed one that links to itself;
 * a root that came from our own bundle is harmless: verifyX509Svid takes the root optionally.
 */
function peerChain(socket: TLSSocket): Buffer[] {
  // Without a peer certificate Node returns an empty object (typed as a full one).
  const leaf: Partial<DetailedPeerCertificate> = socket.getPeerCertificate(true);
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let cert: Partial<DetailedPeerCertificate> | undefined = leaf;
  while (cert?.raw !== undefined && cert.fingerprint256 !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}
