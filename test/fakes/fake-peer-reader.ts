import { readlinkSync } from 'node:fs';
import type { PeerCredentialsReaderLike, PeerPidFd } from '../../agent/workload/index.js';

export interface FakePeer {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** A pidfd that is only a flag: alive until the test says the process exited. */
export class FakePidFd implements PeerPidFd {
  readonly #pid: number;
  exited = false;
  closed = false;

  constructor(pid: number) {
    this.#pid = pid;
  }

  alive(): boolean {
    return !this.exited;
  }

  pid(): number | null {
    return this.exited ? null : this.#pid;
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * kernel/ PeerCredentialReader for the Workload API server: the peer of each accepted
 * connection is whoever the test queued with next() (in accept order), else `fallback`. It
 * checks that what it is given is the fd of an open socket, as SO_PEERCRED would.
 */
export class FakePeerReader implements PeerCredentialsReaderLike {
  readonly #queue: FakePeer[] = [];
  fallback: FakePeer = { pid: 4242, uid: 1000, gid: 1000 };
  /** Every pidfd handed out, in accept order. */
  readonly pidfds: FakePidFd[] = [];
  /** Fails the next read (a kernel refusal). */
  failNext = false;

  next(peer: FakePeer): void {
    this.#queue.push(peer);
  }

  read(sockFd: number): { pid: number; uid: number; gid: number; pidfd: FakePidFd } {
    const target = readlinkSync(`/proc/self/fd/${sockFd}`);
    if (!target.startsWith('socket:')) throw new Error(`fd ${sockFd} is ${target}, not a socket`);
    if (this.failNext) {
      this.failNext = false;
      throw Object.assign(new Error('SO_PEERCRED: EPERM'), { code: 'SYSCALL' });
    }
    const peer = this.#queue.shift() ?? this.fallback;
    const pidfd = new FakePidFd(peer.pid);
    this.pidfds.push(pidfd);
    return { ...peer, pidfd };
  }
}
