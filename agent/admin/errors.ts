/**
 * The one error class of admin/. The backend (daemon/) throws it with the codes a caller can act
 * on; status.ts maps each code to a gRPC status and sends the code itself in a trailer, so an
 * AdminClient's failure carries the agent's own code again. The client adds its own codes for
 * what went wrong on its side of the socket.
 */
export type AdminErrorCode =
  | 'NOT_ENFORCING' // the agent runs without --policy: there is no policy to check, apply or audit
  | 'BAD_POLICY' // the policy text does not parse or validate (the message names line and reason)
  | 'BAD_REQUEST' // a request field breaks its rule (the message names the field)
  | 'NOT_FOUND' // what the request names does not exist (an identity without a profile, a pid not quarantined)
  | 'UNAVAILABLE' // the agent is up but cannot answer now (starting, stopping, a part failed)
  | 'FELL_BEHIND' // a follow stream's client read too slowly; the stream was ended
  | 'SOCKET_IN_USE' // another live server listens on the admin socket path
  | 'SOCKET_SETUP' // the socket's directory or file could not be made, replaced or secured
  | 'UNREACHABLE' // a client could not connect to the admin socket (see `errno`)
  | 'RPC_FAILED' // a client's call ended with a status the agent sent no admin code with (see `status`)
  | 'BAD_RESPONSE'; // a client got a message it cannot read (another agent version)

export interface AdminErrorOptions extends ErrorOptions {
  /** A client's failed call: the gRPC status name ('INVALID_ARGUMENT') and the details. */
  readonly status?: string;
  readonly details?: string;
  /** UNREACHABLE: what connecting to the socket failed with ('ENOENT', 'EACCES', 'ECONNREFUSED'). */
  readonly errno?: string;
}

export class AdminError extends Error {
  override readonly name = 'AdminError';
  readonly code: AdminErrorCode;
  readonly status: string | undefined;
  readonly details: string | undefined;
  readonly errno: string | undefined;

  constructor(code: AdminErrorCode, message: string, options: AdminErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.details = options.details;
    this.errno = options.errno;
  }
}
