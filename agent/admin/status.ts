/**
 * The one place admin errors become gRPC statuses (STYLE.md 4), and back. The table names every
 * AdminErrorCode, so a new code is a compile error here until someone decides its status. The
 * details are the error's own message: the admin socket is root's, and root is told what the
 * agent knows. Any other error is a bug or a failure below: it is logged with its stack and the
 * caller gets INTERNAL with a fixed text. The code travels in a trailer, so the client can
 * rebuild the AdminError rather than guess it from the status.
 */
import { Metadata, status as Status, type ServerErrorResponse } from '@grpc/grpc-js';
import { AdminError, type AdminErrorCode } from './errors.js';

/** The trailer that carries an AdminError's code to the client. */
export const ERROR_CODE_TRAILER = 'tether-admin-error';

export const INTERNAL_DETAILS = 'the agent failed to answer: see its log';

const ADMIN_STATUS = {
  NOT_ENFORCING: Status.FAILED_PRECONDITION,
  BAD_POLICY: Status.INVALID_ARGUMENT,
  BAD_REQUEST: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  UNAVAILABLE: Status.UNAVAILABLE,
  FELL_BEHIND: Status.RESOURCE_EXHAUSTED,
  // Set-up and client-side codes: a backend that throws one has a bug of its own.
  SOCKET_IN_USE: Status.INTERNAL,
  SOCKET_SETUP: Status.INTERNAL,
  UNREACHABLE: Status.INTERNAL,
  RPC_FAILED: Status.INTERNAL,
  BAD_RESPONSE: Status.INTERNAL,
} as const satisfies Record<AdminErrorCode, Status>;

/** The codes a server sends on the wire; the others never leave the process they arose in. */
const SENT: ReadonlySet<AdminErrorCode> = new Set(['NOT_ENFORCING', 'BAD_POLICY', 'BAD_REQUEST', 'NOT_FOUND', 'UNAVAILABLE', 'FELL_BEHIND']);

/** The logger the admin server writes to (a pino child fits). */
export interface AdminLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AdminStatus {
  readonly code: Status;
  readonly details: string;
  /** The AdminError code sent in the trailer; undefined for INTERNAL. */
  readonly adminCode: AdminErrorCode | undefined;
}

/** The status a call ends with for `err`; anything but a sendable AdminError is logged and
 * becomes INTERNAL. */
export function toStatus(err: unknown, log: AdminLog): AdminStatus {
  if (err instanceof AdminError && SENT.has(err.code)) {
    if (err.code === 'UNAVAILABLE') log.warn({ err, code: err.code }, 'admin call failed');
    return { code: ADMIN_STATUS[err.code], details: err.message, adminCode: err.code };
  }
  log.error({ err, code: err instanceof AdminError ? err.code : undefined }, 'admin call failed with an unexpected error');
  return { code: Status.INTERNAL, details: INTERNAL_DETAILS, adminCode: undefined };
}

/** What grpc-js takes to end a call: an Error with the status, its details and the trailer. */
export function serviceError(answer: AdminStatus): ServerErrorResponse {
  const metadata = new Metadata();
  if (answer.adminCode !== undefined) metadata.set(ERROR_CODE_TRAILER, answer.adminCode);
  return Object.assign(new Error(answer.details), { code: answer.code, details: answer.details, metadata });
}

/** Carries the reason with ERROR_CODE_TRAILER when a stream is ended OK by the server (see endTrailers). */
export const ERROR_DETAILS_TRAILER = 'tether-admin-details';

/**
 * The trailers of a stream the server ends for a reason of its own (the agent stopping) while the
 * client did nothing wrong. The stream ends OK with these rather than with an error status because
 * grpc-js's client drops the messages it has received but not yet handed to the reader when a
 * non-OK status arrives; an OK end is delivered after the last of them. The client turns the
 * trailers back into the AdminError (client.ts).
 */
export function endTrailers(err: AdminError): Metadata {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_TRAILER, err.code);
  metadata.set(ERROR_DETAILS_TRAILER, err.message);
  return metadata;
}

/** The AdminError code a failed call's trailer names, if it names one a server sends. */
export function adminCodeOf(metadata: Metadata | undefined): AdminErrorCode | undefined {
  const value = metadata?.get(ERROR_CODE_TRAILER)[0];
  return typeof value === 'string' && SENT.has(value as AdminErrorCode) ? value as AdminErrorCode : undefined;
}
