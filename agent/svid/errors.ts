/**
 * The one error class of svid/. Callers branch on `code`, never on the message; workload/status.ts
 * maps each code to a gRPC status (MINT_FAILED and NO_SVID: Unavailable, BAD_AUDIENCE:
 * InvalidArgument), metrics count by code. A CA failure is wrapped with `{ cause }` (a CaError).
 */
export type SvidErrorCode =
  | 'MINT_FAILED' // the authority refused or failed to mint; the cause is its CaError
  | 'NO_SVID' // the last mint for this entry failed and its retry is not due yet: nothing valid to serve
  | 'BAD_AUDIENCE' // a JWT-SVID asked for with no audience, or an empty audience string
  | 'BAD_OPTION' // a cache option out of range (refreshFraction, jitter, a TTL, maxEntries ...)
  | 'CLOSED'; // the cache was closed

export class SvidError extends Error {
  override readonly name = 'SvidError';
  readonly code: SvidErrorCode;
  constructor(code: SvidErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
