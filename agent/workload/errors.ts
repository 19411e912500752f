/**
 * The one error class of workload/. Callers branch on `code`, never on the message; status.ts
 * maps each code to the gRPC status SPIFFE.md a.3/a.4 names, metrics count by code. A
 * WorkloadClient's failure carries the server's gRPC status name and details as well.
 */
export type WorkloadErrorCode =
  | 'MISSING_SECURITY_HEADER' // no `workload.spiffe.io: true` metadata, or another value
  | 'BAD_REQUEST' // a mandatory field is empty or a field breaks its rule (audience, spiffe_id)
  | 'CALLER_GONE' // the process behind the connection exited or its pid names another now
  | 'ATTESTATION_FAILED' // the caller could not be attested for another reason
  | 'NO_IDENTITY' // the caller is entitled to no SVID (or none of the one it asked for)
  | 'POSTURE_FAILED' // the caller's selectors match, but an entry's posture check failed for every one
  | 'QUARANTINED' // the caller deviated from its identity's behaviour profile: issued nothing until released
  | 'INVALID_TOKEN' // ValidateJWTSVID: the token breaks a JWT-SVID rule
  | 'UNAVAILABLE' // the server is up but cannot answer now (starting, stopping, a backend failure)
  | 'UNKNOWN_CONNECTION' // a call on a connection this server did not tag (cannot happen; refused)
  | 'UNIMPLEMENTED' // an RPC Tether does not offer (the WIT profile)
  | 'SOCKET_IN_USE' // another live server listens on the socket path
  | 'SOCKET_SETUP' // the socket's directory or file could not be made or replaced
  | 'BAD_ADDRESS' // a client was given an endpoint address it cannot dial
  | 'RPC_FAILED' // a client's call ended with a gRPC status other than OK (see `status`)
  | 'BAD_RESPONSE'; // a client got a message that breaks the Workload API's rules

export class WorkloadError extends Error {
  override readonly name = 'WorkloadError';
  readonly code: WorkloadErrorCode;
  /** A client's failed call: the gRPC status name ('PERMISSION_DENIED') and its details. */
  readonly status: string | undefined;
  readonly details: string | undefined;

  constructor(code: WorkloadErrorCode, message: string, options?: ErrorOptions & { readonly status?: string; readonly details?: string }) {
    super(message, options);
    this.code = code;
    this.status = options?.status;
    this.details = options?.details;
  }
}
