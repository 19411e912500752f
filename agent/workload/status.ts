/**
 * The one place errors become gRPC statuses (STYLE.md 4), per SPIFFE.md a.3/a.4: every folder's
 * error class is mapped by its `code` in a table that must name every code, so a new code is a
 * compile error here until someone decides its status. Details are the texts SPIRE sends where
 * it has one; otherwise the error's own message where it states what was wrong with the
 * request, else a fixed text with the code. Never a stack or a server-side path to the client.
 */
import { status as Status, type ServerErrorResponse } from '@grpc/grpc-js';
import { AttestError, type AttestErrorCode } from '../attest/index.js';
import { CaError, type CaErrorCode } from '../ca/index.js';
import { KernelError, type KernelErrorCode } from '../kernel/index.js';
import { SpiffeError, type JwtSvidErrorCode, type SpiffeIdErrorCode } from '../spiffe/index.js';
import type { WorkloadLog } from './backend.js';
import { WorkloadError, type WorkloadErrorCode } from './errors.js';

/** A status with its details text: MESSAGE (null) means the error's own message. */
type Rule = readonly [code: Status, details: string | null];
const MESSAGE = null;

export const DETAILS = {
  missingHeader: 'security header missing from request',
  callerGone: 'could not verify existence of the original caller',
  attestationFailed: 'workload attestation failed',
  noIdentity: 'no identity issued',
  unavailable: 'workload API unavailable',
} as const;

const WORKLOAD_STATUS = {
  MISSING_SECURITY_HEADER: [Status.INVALID_ARGUMENT, DETAILS.missingHeader],
  BAD_REQUEST: [Status.INVALID_ARGUMENT, MESSAGE],
  CALLER_GONE: [Status.UNAUTHENTICATED, DETAILS.callerGone],
  ATTESTATION_FAILED: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  NO_IDENTITY: [Status.PERMISSION_DENIED, DETAILS.noIdentity],
  // The message names the check, the entry's SPIFFE ID and what was seen: the workload's operator needs it.
  POSTURE_FAILED: [Status.PERMISSION_DENIED, MESSAGE],
  QUARANTINED: [Status.PERMISSION_DENIED, MESSAGE],
  INVALID_TOKEN: [Status.INVALID_ARGUMENT, MESSAGE],
  UNAVAILABLE: [Status.UNAVAILABLE, MESSAGE],
  UNKNOWN_CONNECTION: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  UNIMPLEMENTED: [Status.UNIMPLEMENTED, MESSAGE],
  // Client- and set-up-side codes; a server that meets one has a bug of its own.
  SOCKET_IN_USE: [Status.UNAVAILABLE, DETAILS.unavailable],
  SOCKET_SETUP: [Status.UNAVAILABLE, DETAILS.unavailable],
  BAD_ADDRESS: [Status.UNAVAILABLE, DETAILS.unavailable],
  RPC_FAILED: [Status.UNAVAILABLE, DETAILS.unavailable],
  BAD_RESPONSE: [Status.UNAVAILABLE, DETAILS.unavailable],
} as const satisfies Record<WorkloadErrorCode, Rule>;

const ATTEST_STATUS = {
  PROCESS_GONE: [Status.UNAUTHENTICATED, DETAILS.callerGone],
  PID_REUSED: [Status.UNAUTHENTICATED, DETAILS.callerGone],
  ATTESTATION_FAILED: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  PROC_PARSE: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  CGROUP_NOT_FOUND: [Status.UNAVAILABLE, DETAILS.attestationFailed],
} as const satisfies Record<AttestErrorCode, Rule>;

// Reading the caller's pidfd or peer credentials failed: attestation could not finish.
const KERNEL_STATUS = {
  NATIVE_LOAD: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  ABI_MISMATCH: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  BPF_OPEN: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  BPF_LOAD: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  ATTACH: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  MAP: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  RINGBUF: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  SYSCALL: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  NOT_SUPPORTED: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  BPFFS: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  CGROUP: [Status.UNAVAILABLE, DETAILS.attestationFailed],
  CLOSED: [Status.UNAUTHENTICATED, DETAILS.callerGone], // the connection's pidfd was closed under the call
} as const satisfies Record<KernelErrorCode, Rule>;

// SPIRE: "could not fetch JWT-SVID: ..." is Unavailable; minting is the CA's, never the caller's fault.
const CA_STATUS = {
  CORRUPT_STATE: [Status.UNAVAILABLE, 'could not issue an SVID'],
  UNSUPPORTED_STATE: [Status.UNAVAILABLE, 'could not issue an SVID'],
  STATE_IO: [Status.UNAVAILABLE, 'could not issue an SVID'],
  LOCKED: [Status.UNAVAILABLE, 'could not issue an SVID'],
  TRUST_DOMAIN_MISMATCH: [Status.UNAVAILABLE, 'could not issue an SVID'],
  NO_ACTIVE_CA: [Status.UNAVAILABLE, 'could not issue an SVID'],
  BAD_KEY_TYPE: [Status.UNAVAILABLE, 'could not issue an SVID'],
  FOREIGN_TRUST_DOMAIN: [Status.UNAVAILABLE, 'could not issue an SVID'],
  ROOT_PATH_ID: [Status.UNAVAILABLE, 'could not issue an SVID'],
  BAD_TTL: [Status.UNAVAILABLE, 'could not issue an SVID'],
  ROTATION: [Status.UNAVAILABLE, 'could not issue an SVID'],
  MINT_FAILED: [Status.UNAVAILABLE, 'could not issue an SVID'],
  UPSTREAM: [Status.UNAVAILABLE, 'could not issue an SVID'],
  CLOSED: [Status.UNAVAILABLE, 'could not issue an SVID'],
} as const satisfies Record<CaErrorCode, Rule>;

// A SpiffeError reaching the edge came from what the caller sent: a requested ID or a token.
const SPIFFE_ID_STATUS = {
  EMPTY: [Status.INVALID_ARGUMENT, MESSAGE],
  WRONG_SCHEME: [Status.INVALID_ARGUMENT, MESSAGE],
  MISSING_TRUST_DOMAIN: [Status.INVALID_ARGUMENT, MESSAGE],
  BAD_TRUST_DOMAIN_CHAR: [Status.INVALID_ARGUMENT, MESSAGE],
  TRUST_DOMAIN_TOO_LONG: [Status.INVALID_ARGUMENT, MESSAGE],
  BAD_PATH_SEGMENT_CHAR: [Status.INVALID_ARGUMENT, MESSAGE],
  EMPTY_SEGMENT: [Status.INVALID_ARGUMENT, MESSAGE],
  DOT_SEGMENT: [Status.INVALID_ARGUMENT, MESSAGE],
  TRAILING_SLASH: [Status.INVALID_ARGUMENT, MESSAGE],
  NO_LEADING_SLASH: [Status.INVALID_ARGUMENT, MESSAGE],
} as const satisfies Record<SpiffeIdErrorCode, Rule>;

const JWT_SVID_STATUS = {
  MALFORMED_TOKEN: [Status.INVALID_ARGUMENT, MESSAGE],
  UNSUPPORTED_ALG: [Status.INVALID_ARGUMENT, MESSAGE],
  MISSING_KID: [Status.INVALID_ARGUMENT, MESSAGE],
  UNKNOWN_KID: [Status.INVALID_ARGUMENT, MESSAGE],
  BAD_HEADER: [Status.INVALID_ARGUMENT, MESSAGE],
  BAD_TYP: [Status.INVALID_ARGUMENT, MESSAGE],
  BAD_SIGNATURE: [Status.INVALID_ARGUMENT, MESSAGE],
  MISSING_SUB: [Status.INVALID_ARGUMENT, MESSAGE],
  BAD_SUB: [Status.INVALID_ARGUMENT, MESSAGE],
  MISSING_AUD: [Status.INVALID_ARGUMENT, MESSAGE],
  AUD_MISMATCH: [Status.INVALID_ARGUMENT, MESSAGE],
  MISSING_EXP: [Status.INVALID_ARGUMENT, MESSAGE],
  EXPIRED: [Status.INVALID_ARGUMENT, MESSAGE],
  NOT_YET_VALID: [Status.INVALID_ARGUMENT, MESSAGE],
  ISSUED_IN_FUTURE: [Status.INVALID_ARGUMENT, MESSAGE],
  NO_BUNDLE_FOR_TRUST_DOMAIN: [Status.INVALID_ARGUMENT, MESSAGE],
} as const satisfies Record<JwtSvidErrorCode, Rule>;

export interface StatusAnswer {
  readonly code: Status;
  readonly details: string;
}

/** The status a call ends with for `err`. Errors no table knows end UNAVAILABLE and are logged. */
export function toStatus(err: unknown, log: WorkloadLog): StatusAnswer {
  const rule = ruleFor(err);
  if (rule === undefined) {
    log.error({ err }, 'workload API call failed with an unexpected error');
    return { code: Status.UNAVAILABLE, details: DETAILS.unavailable };
  }
  const [code, details] = rule;
  const e = err as Error & { code: string };
  if (code === Status.UNAVAILABLE) log.warn({ err, code: e.code }, 'workload API call failed');
  return { code, details: details ?? e.message };
}

function ruleFor(err: unknown): Rule | undefined {
  if (err instanceof WorkloadError) return WORKLOAD_STATUS[err.code];
  if (err instanceof AttestError) return ATTEST_STATUS[err.code];
  if (err instanceof KernelError) return KERNEL_STATUS[err.code];
  if (err instanceof CaError) return CA_STATUS[err.code];
  if (err instanceof SpiffeError) {
    return (SPIFFE_ID_STATUS as Partial<Record<string, Rule>>)[err.code] ?? (JWT_SVID_STATUS as Partial<Record<string, Rule>>)[err.code];
  }
  return undefined;
}

/** What grpc-js takes to end a call: an Error carrying the status code and details. */
export function serviceError(answer: StatusAnswer): ServerErrorResponse {
  return Object.assign(new Error(answer.details), { code: answer.code, details: answer.details });
}
