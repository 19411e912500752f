import { native } from './native.js';
import { KernelError, nativeCall } from './errors.js';
import { PidFd } from './pid-fd.js';

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** A pidfd of the peer: from SO_PEERPIDFD where the kernel has it (the exact process that
   * connected), else from pidfd_open(pid) checked by the caller against the process table. */
  readonly pidfd: PidFd;
  readonly source: PidfdSource;
}

export type PidfdSource = 'SO_PEERPIDFD' | 'pidfd_open';

/**
 * Reads who is on the other end of a connected Unix socket. SO_PEERPIDFD (Linux 6.5+) is probed
 * on first use; where it is missing (ENOPROTOOPT) that is remembered and pidfd_open(SO_PEERCRED
 * pid) is the fallback, which the caller must tie to the process table's start time.
 */
export class PeerCredentialReader {
  #peerPidfd: boolean | undefined;
  readonly #onFallback: (reason: string) => void;

  constructor(options: { onFallback?: (reason: string) => void } = {}) {
    this.#onFallback = options.onFallback ?? (() => {});
  }

  /** 'SO_PEERPIDFD' or 'pidfd_open' once probed; undefined before the first read. */
  get source(): PidfdSource | undefined {
    return this.#peerPidfd === undefined ? undefined : this.#peerPidfd ? 'SO_PEERPIDFD' : 'pidfd_open';
  }

  read(sockFd: number): PeerCredentials {
    const cred = nativeCall('SYSCALL', `SO_PEERCRED on fd ${sockFd}`, () => native().peerCred(sockFd));
    if (this.#peerPidfd !== false) {
      try {
        const pidfd = new PidFd(native().peerPidfd(sockFd));
        this.#peerPidfd = true;
        return { ...cred, pidfd, source: 'SO_PEERPIDFD' };
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOPROTOOPT') {
          throw new KernelError('SYSCALL', `SO_PEERPIDFD on fd ${sockFd}: ${(err as Error).message}`, { cause: err });
        }
        this.#peerPidfd = false;
        this.#onFallback('SO_PEERPIDFD is not supported by this kernel: using pidfd_open on the SO_PEERCRED pid');
      }
    }
    return { ...cred, pidfd: PidFd.open(cred.pid), source: 'pidfd_open' };
  }
}
