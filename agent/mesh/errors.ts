/**
 * The one error class of mesh/. Callers branch on `code`, never on the message; tunnel events
 * carry the code as their `reason`, so metrics count refusals by code.
 */
export type MeshErrorCode =
  | 'BAD_SECRET' // a traffic secret of the wrong length for the cipher's hash
  | 'BAD_KEYLOG' // a keylog line that is not `LABEL <64 hex client random> <hex secret>`
  | 'UNSUPPORTED_CIPHER' // a TLS 1.3 suite kTLS cannot take (only AES-128/256-GCM, ChaCha20-Poly1305)
  | 'LOCAL_SVID_INVALID' // the SVID this end was given breaks an X509-SVID rule: never presented
  | 'PEER_NO_CERTIFICATE' // the peer presented no certificate
  | 'PEER_FOREIGN_TRUST_DOMAIN' // the peer's SVID is of another trust domain
  | 'PEER_INVALID_SVID' // the peer's chain breaks an X509-SVID rule or does not verify against the bundle
  | 'PEER_UNEXPECTED_ID' // the server's SVID is not the ID the client expected for the destination
  | 'NO_SVID_FOR_PORT' // SNI named no port, or a port no local workload with an SVID listens on
  | 'BAD_CONNECT' // the CONNECT line breaks the grammar, is too long, or bytes followed it before OK
  | 'PORT_MISMATCH' // CONNECT names another port than the SNI the server's SVID was chosen for
  | 'DENIED' // policy refused source → destination
  | 'DESTINATION_FAILED' // the local destination refused or failed the connection
  | 'BAD_REPLY' // the server answered CONNECT with something other than OK, DENIED or FAILED
  | 'TIMEOUT' // the handshake, CONNECT or its answer took longer than handshakeTimeoutMs
  | 'TLS_FAILED' // the TLS handshake or the tunnel's TLS socket failed
  | 'RELAY_FAILED'; // a socket failed while relaying

export class MeshError extends Error {
  override readonly name = 'MeshError';
  readonly code: MeshErrorCode;

  constructor(code: MeshErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
