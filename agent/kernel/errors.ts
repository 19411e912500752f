/** The one error class of kernel/: every native failure is wrapped here with what was being done. */
export type KernelErrorCode =
  | 'NATIVE_LOAD'     // the addon could not be loaded
  | 'ABI_MISMATCH'    // the addon's struct layout differs from abi.gen.ts
  | 'BPF_OPEN'        // a BPF object file could not be opened
  | 'BPF_LOAD'        // the verifier or the kernel refused an object
  | 'ATTACH'          // a program could not be attached
  | 'MAP'             // a map operation failed
  | 'RINGBUF'         // a ring buffer could not be set up
  | 'SYSCALL'         // pidfd, peer credentials and other syscalls
  | 'NOT_SUPPORTED'   // this kernel lacks the feature (the caller falls back)
  | 'BPFFS'           // bpffs is not mounted and could not be
  | 'CGROUP'          // no cgroup v2 mount, or a cgroup directory problem
  | 'CLOSED';         // a handle used after its owner closed it

/** The shape of the addon's errors (native/index.d.ts NativeError). */
interface NativeErrorLike { code?: unknown; syscall?: unknown; log?: unknown }

export class KernelError extends Error {
  override readonly name = 'KernelError';
  readonly code: KernelErrorCode;
  /** errno name from the kernel ("EPERM", "ENOENT"), when a syscall failed. */
  readonly errno: string | undefined;
  /** the syscall or libbpf call that failed. */
  readonly syscall: string | undefined;
  /** libbpf's output during the call (the verifier log of a failed load). */
  readonly log: string | undefined;

  constructor(code: KernelErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    const cause = options?.cause as NativeErrorLike | undefined;
    this.errno = typeof cause?.code === 'string' ? cause.code : undefined;
    this.syscall = typeof cause?.syscall === 'string' ? cause.syscall : undefined;
    this.log = typeof cause?.log === 'string' && cause.log !== '' ? cause.log : undefined;
  }
}

/** Runs a native call, wrapping what it throws as a KernelError of `code` that says what was done. */
export function nativeCall<T>(code: KernelErrorCode, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new KernelError(code, `${what}: ${detail}`, { cause: err });
  }
}
