/**
 * The one error class of attest/. Callers branch on `code`, never on the message;
 * workload/status.ts maps each code to a gRPC status, metrics count by code.
 */
export type AttestErrorCode =
  | 'PROCESS_GONE' // the process exited (or its pid now names another) before we finished
  | 'PID_REUSED' // the pid answered with a different start time than the key we hold
  | 'ATTESTATION_FAILED' // the kernel or a file refused us for a reason other than exit
  | 'PROC_PARSE' // a procfs file did not have the shape the kernel documents
  | 'CGROUP_NOT_FOUND'; // the cgroup v2 mount (or a cgroup in it) is not where we were told

export class AttestError extends Error {
  override readonly name = 'AttestError';
  readonly code: AttestErrorCode;
  constructor(code: AttestErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
