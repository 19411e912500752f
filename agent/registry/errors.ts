/**
 * The one error class of registry/. Callers branch on `code`, never on the message; the CLI maps
 * codes to exit codes in cli/exit-codes.ts, metrics count reload failures by code.
 */
export type RegistryErrorCode =
  | 'BAD_ENTRIES' // the entries file does not parse or validate: the message names file, line and reason
  | 'BAD_SELECTOR' // a selector breaks a rule of its type and key (parseSelector)
  | 'BAD_DURATION' // a TTL is not a positive whole number of seconds, or a duration like "1h30m"
  | 'NO_ENTRIES_FILE' // the entries file does not exist
  | 'UNREADABLE_ENTRIES_FILE' // the entries file exists but cannot be read (permissions, a directory...)
  | 'ENTRY_NOT_FOUND'; // no entry has the id or SPIFFE ID asked for

export interface RegistryErrorOptions extends ErrorOptions {
  readonly file?: string;
  /** 1-based line of the (first) offending value. */
  readonly line?: number;
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly code: RegistryErrorCode;
  /** The entries file concerned, when there is one. */
  readonly file: string | undefined;
  /** For BAD_ENTRIES: the line of the first problem, so a log line can carry it as a field. */
  readonly line: number | undefined;

  constructor(code: RegistryErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = options.file;
    this.line = options.line;
  }
}
