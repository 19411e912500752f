export type ProfileErrorCode =
  /** A profile file that does not parse or breaks a rule: refused whole, the last good one stays. */
  | 'BAD_PROFILE'
  /** Reading or writing the profiles directory failed. */
  | 'PROFILE_IO'
  /** No profile for that SPIFFE ID. */
  | 'UNKNOWN_PROFILE'
  /** No quarantined process with that pid. */
  | 'NOT_QUARANTINED';

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
  readonly code: ProfileErrorCode;
  /** BAD_PROFILE: the line of the first problem. */
  readonly line: number | undefined;

  constructor(code: ProfileErrorCode, message: string, options?: ErrorOptions & { line?: number }) {
    super(message, options);
    this.code = code;
    this.line = options?.line;
  }
}
