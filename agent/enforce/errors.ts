/**
 * The one error class of enforce/. Callers branch on `code`, never on the message; the CLI maps
 * codes to exit codes, metrics count policy reload failures by code.
 */
export type EnforceErrorCode =
  | 'BAD_POLICY' // the policy file does not parse or validate: `policy.yaml:LINE:COL: path: reason`, every problem
  | 'IDENTITY_NUMBERS' // the identity-numbers state file cannot be read, decoded or written
  | 'NUMBERS_EXHAUSTED'; // every identity number below 2^31 has been handed out once

export interface EnforceErrorOptions extends ErrorOptions {
  /** The file concerned, when there is one. */
  readonly file?: string;
  /** 1-based line of the (first) offending value. */
  readonly line?: number;
}

export class EnforceError extends Error {
  override readonly name = 'EnforceError';
  readonly code: EnforceErrorCode;
  readonly file: string | undefined;
  /** For BAD_POLICY: the line of the first problem, so a log line can carry it as a field. */
  readonly line: number | undefined;

  constructor(code: EnforceErrorCode, message: string, options: EnforceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = options.file;
    this.line = options.line;
  }
}
