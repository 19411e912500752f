/**
 * The one error class of ca/. Callers branch on `code`, never on the message; the CLI maps
 * codes to exit codes and metrics count by code. A failure from below (node:fs, node:crypto,
 * spiffe/) is wrapped with `{ cause }`, so the message states our rule and the cause the detail.
 */
export type CaErrorCode =
  | 'CORRUPT_STATE' // a state file is truncated, edited, of the wrong kind, or does not match its peers
  | 'UNSUPPORTED_STATE' // a state file or manifest of a newer format than this agent reads
  | 'STATE_IO' // the file system refused a read or write (permissions, disk full, ...)
  | 'LOCKED' // another live process (a running agent) holds the CA state
  | 'TRUST_DOMAIN_MISMATCH' // the state on disk belongs to another trust domain than configured
  | 'NO_ACTIVE_CA' // no usable active authority (none, or it has expired)
  | 'BAD_KEY_TYPE' // a key type we do not issue with, by name or by what a key file holds
  | 'FOREIGN_TRUST_DOMAIN' // asked to mint an identity of another trust domain
  | 'ROOT_PATH_ID' // asked to mint an SVID for the trust domain's own ID (X509-SVID.md: a leaf needs a path)
  | 'BAD_TTL' // a TTL that is not a positive whole number of seconds
  | 'ROTATION' // a rotation step asked for out of order (nothing prepared, nothing to retire ...)
  | 'MINT_FAILED' // signing or encoding an SVID failed
  | 'UPSTREAM' // ca.upstream's certificate or key cannot be used (missing, not a CA, not its key, expired, another trust domain)
  | 'CLOSED'; // the authority was closed

export class CaError extends Error {
  override readonly name = 'CaError';
  readonly code: CaErrorCode;
  /** The state file concerned, when there is one: the operator's next step starts there. */
  readonly path: string | undefined;

  constructor(code: CaErrorCode, message: string, options?: ErrorOptions & { readonly path?: string }) {
    super(message, options);
    this.code = code;
    this.path = options?.path;
  }
}
