import { readFileSync } from 'node:fs';
import { native } from './native.js';
import { KernelError, nativeCall } from './errors.js';

/**
 * A pidfd: a handle on one process that can never be confused with a later process given the
 * same pid. Owns its fd until close().
 */
export class PidFd {
  readonly fd: number;
  #open = true;

  constructor(fd: number) {
    this.fd = fd;
  }

  static open(pid: number): PidFd {
    return new PidFd(nativeCall('SYSCALL', `pidfd_open(${pid})`, () => native().pidfdOpen(pid)));
  }

  /** True while the process runs (a pidfd polls readable once it has exited). */
  alive(): boolean {
    this.#check('alive');
    return nativeCall('SYSCALL', 'poll pidfd', () => native().pidfdAlive(this.fd));
  }

  /** The pid this pidfd refers to, from /proc/self/fdinfo; null once the process is gone (-1). */
  pid(): number | null {
    this.#check('pid');
    const m = /^Pid:\s*(-?\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${this.fd}`, 'utf8'));
    const pid = m?.[1] === undefined ? -1 : Number(m[1]);
    return pid > 0 ? pid : null;
  }

  signal(signal: number): void {
    this.#check('signal');
    nativeCall('SYSCALL', `pidfd_send_signal(${signal})`, () => native().pidfdSendSignal(this.fd, signal));
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    native().closeFd(this.fd);
  }

  #check(what: string): void {
    if (!this.#open) throw new KernelError('CLOSED', `pidfd ${this.fd}: ${what} after close`);
  }
}
