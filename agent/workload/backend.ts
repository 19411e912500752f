/**
 * What the Workload API server needs from the rest of the agent, declared here by its consumer
 * (STYLE.md 9); daemon/ wires in an implementation over attest/, registry/ and svid/.
 */

/** The pidfd of a connection's peer (kernel/ PidFd, typed by what the server uses). */
export interface PeerPidFd {
  /** True while the process runs. */
  alive(): boolean;
  /** Its pid now, null once it has exited. */
  pid(): number | null;
  close(): void;
}

/** Who is on the other end of one accepted connection, as the kernel said at accept time. */
export interface ConnectionPeer {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Owned by the connection: closed when the socket closes, never by a call. */
  readonly pidfd: PeerPidFd;
  /** The server-chosen tag of the connection (what grpc-js reports as the call's peer). */
  readonly connectionId: string;
}

/** An attested caller: the backend's own handle on the process, plus a line for logs. */
export interface Caller {
  readonly peer: ConnectionPeer;
  /** For logs: "pid 123 (/usr/bin/python3) uid 1000". */
  readonly description: string;
}

export interface X509SvidItem {
  readonly spiffeId: string;
  /** DER certificates, leaf first. */
  readonly chain: readonly Buffer[];
  readonly privateKeyPkcs8: Buffer;
  /** The SVID's own trust domain's CA certificates, concatenated DER. */
  readonly bundle: Buffer;
  readonly hint: string;
}

/** 'posture': something a posture check reads changed (the executable's file): the answer is judged again. */
/** 'quarantine': the process was quarantined (profile/) or released: judged again. */
export type ChangeReason = 'rotation' | 'entries' | 'bundle' | 'exec' | 'exit' | 'posture' | 'quarantine';

export interface WorkloadBackend {
  /** Attests the process behind this connection now. Throws WorkloadError CALLER_GONE
   * (→ Unauthenticated) or ATTESTATION_FAILED (→ Unavailable); status.ts maps attest/'s too. */
  identify(peer: ConnectionPeer): Promise<Caller>;
  /** Every SVID the caller is entitled to now ([] → PermissionDenied "no identity issued"), and
   * federated bundles keyed "spiffe://td" (concatenated DER). */
  x509(caller: Caller): Promise<{ svids: readonly X509SvidItem[]; federatedBundles: ReadonlyMap<string, Buffer> }>;
  /** Calls onChange on anything that may change the caller's answers: rotation, an entry or
   * bundle change, or the caller's process exec'ing or exiting (after 'exit' the server ends the
   * stream Unauthenticated; after 'exec' it attests again). Returns the unsubscribe function. */
  watch(caller: Caller, onChange: (reason: ChangeReason) => void): () => void;
  /** One JWT-SVID per identity of the caller (only `spiffeId`'s when given) for the audience. */
  jwtSvids(caller: Caller, audience: readonly string[], spiffeId: string | undefined):
    Promise<ReadonlyArray<{ spiffeId: string; token: string; hint: string }>>;
  /** X.509 bundles keyed "spiffe://td", concatenated DER; the own trust domain at least. */
  x509Bundles(): ReadonlyMap<string, Buffer>;
  /** JWT bundles keyed "spiffe://td": JWKS JSON bytes. */
  jwtBundles(): ReadonlyMap<string, Buffer>;
  /** Validates a JWT-SVID for one audience; throws WorkloadError INVALID_TOKEN. */
  validateJwt(token: string, audience: string): Promise<{ spiffeId: string; claims: Record<string, unknown> }>;
}

/** The logger the server writes to (a pino child fits). Tokens and keys are never logged. */
export interface WorkloadLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
