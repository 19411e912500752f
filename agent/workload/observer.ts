import { status as Status } from '@grpc/grpc-js';

/** The SpiffeWorkloadAPI methods, by the names the proto gives them. */
export const WORKLOAD_METHODS = [
  'FetchX509SVID', 'FetchX509Bundles', 'FetchJWTSVID', 'FetchJWTBundles', 'ValidateJWTSVID', 'FetchWITSVID', 'FetchWITBundles',
] as const;
export type WorkloadMethod = (typeof WORKLOAD_METHODS)[number];

/** A gRPC status by its name in the gRPC spec: "OK", "PERMISSION_DENIED", "UNAVAILABLE"... */
export type StatusName = keyof typeof Status;

/**
 * What the Workload API server tells whoever counts its calls (daemon/ registers the metrics;
 * this folder never imports them). Each call is told once: a unary call with its answer, a stream
 * with its first message (OK) or, when it ends before one, with the status it ended with
 * (CANCELLED when the client went away first). A stream's later end is not a second answer.
 * Nothing about the caller or what it was given is passed: no key, token or SPIFFE ID.
 */
export interface WorkloadObserver {
  answered(method: WorkloadMethod, code: StatusName): void;
}

export function statusName(code: Status): StatusName {
  return (Status[code] ?? 'UNKNOWN') as StatusName;
}
