import type { LinkHandle } from './native.js';
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

  pin(path: string): void {
    this.#call(`pin at ${path}`, () => native().linkPin(this.#handle, path));
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
