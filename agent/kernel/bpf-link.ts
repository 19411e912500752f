import type { LinkHandle, LinkInfo } from './native.js';
import { native } from './native.js';
import { KernelError, nativeCall } from './errors.js';

/** One attached program: owns its bpf_link until destroy(); a pinned link outlives it. */
export class BpfLink {
  readonly #handle: LinkHandle;
  readonly description: string;
  #open = true;

  constructor(handle: LinkHandle, description: string) {
    this.#handle = handle;
    this.description = description;
  }

  /** A link pinned by an earlier run (a restarted agent adopting what enforces). */
  static openPinned(path: string): BpfLink {
    return new BpfLink(nativeCall('ATTACH', `open pinned link ${path}`, () => native().linkOpenPinned(path)), path);
  }

  get fd(): number {
    return this.#call('fd', () => native().linkFd(this.#handle));
  }

  /** What the kernel reports of this link now (its id, type, program; cgroup or tracepoint). */
  info(): LinkInfo {
    return this.#call('info', () => native().linkInfo(this.#handle));
  }

  /**
   * Whether the kernel still runs this link's program at its hook. A cgroup link detached
   * behind our back (BPF_LINK_DETACH: `tether uninstall`, `bpftool link detach`; or its cgroup
   * removed) reports cgroup id 0. Raw tracepoint and tracing links cannot be detached (6.1 and
   * 6.18 give EOPNOTSUPP): they run while any fd or pin holds them, so while we hold this one.
   * A pin removed behind our back detaches nothing while we hold the fd either.
   */
  attached(): boolean {
    const info = this.info();
    return info.cgroupId === undefined || info.cgroupId !== 0n;
  }

  pin(path: string): void {
    this.#call(`pin at ${path}`, () => native().linkPin(this.#handle, path));
  }

  /** Pin this link again at `path` (its pin was removed or replaced behind our back):
   * bpf_obj_pin of our fd, where libbpf's bpf_link__pin refuses a link it pinned once. */
  repin(path: string): void {
    this.#call(`pin again at ${path}`, () => native().objPin(native().linkFd(this.#handle), path));
  }

  unpin(): void {
    this.#call('unpin', () => native().linkUnpin(this.#handle));
  }

  /** Detach now, even while pinned or held elsewhere. */
  detach(): void {
    this.#call('detach', () => native().linkDetach(this.#handle));
  }

  /** Close our fd but leave a pinned link attached (it keeps enforcing without us). */
  release(): void {
    if (!this.#open) return;
    this.#call('disconnect', () => native().linkDisconnect(this.#handle));
    this.destroy();
  }

  /** Close our fd; an unpinned link detaches with it. Idempotent. */
  destroy(): void {
    if (!this.#open) return;
    this.#open = false;
    native().linkDestroy(this.#handle);
  }

  #call<T>(what: string, fn: () => T): T {
    if (!this.#open) throw new KernelError('CLOSED', `link ${this.description}: ${what} after destroy`);
    return nativeCall('ATTACH', `link ${this.description}: ${what}`, fn);
  }
}
