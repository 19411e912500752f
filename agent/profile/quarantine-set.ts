import type { ProcessKey } from '../attest/index.js';
import { QuarantineReason, type Quarantine, type SockMaps } from '../kernel/index.js';
import { ProfileError } from './errors.js';

export interface QuarantinedProcess {
  readonly key: ProcessKey;
  /** The identity number whose profile it deviated from. */
  readonly identity: number;
  /** exec: the kernel killed a child's exec outside the profile; connect: the kernel refused its
   * own connect outside the profile; agent: user space quarantined it. */
  readonly reason: 'exec' | 'connect' | 'agent';
  /** bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME) when quarantined. */
  readonly sinceNs: bigint;
}

export interface QuarantineSetOptions {
  /** The kernel's `quarantined` map: connect4/6 refuse these processes, forks inherit them. */
  readonly map: SockMaps['quarantined'];
  /** ns per clock tick: a coarse key (from /proc) matches to one tick. */
  readonly tickNs: bigint;
  /** CLOCK_BOOTTIME in ns, for entries user space writes. */
  readonly bootNs: () => bigint;
}

/**
 * The quarantined processes. The kernel's map is the one truth: the exec tracepoint writes the
 * parent of a killed exec there itself, forks inherit it, exits clear it, and this class adds
 * and releases entries for user space. The Workload API asks `has()` before issuing anything and
 * listens for changes to end a quarantined process's streams (PermissionDenied).
 */
export class QuarantineSet {
  readonly #o: QuarantineSetOptions;
  readonly #listeners = new Set<(tgid: number) => void>();

  constructor(options: QuarantineSetOptions) {
    this.#o = options;
  }

  has(key: ProcessKey): boolean {
    const q = this.#o.map.lookup(key.tgid);
    if (q === undefined) return false;
    const coarse = q.coarse === 1 || key.coarse === true;
    return coarse ? q.startNs / this.#o.tickNs === key.startNs / this.#o.tickNs : q.startNs === key.startNs;
  }

  add(key: ProcessKey, identity: number): void {
    this.#o.map.update(key.tgid, {
      startNs: key.startNs, sinceNs: this.#o.bootNs(), id: identity, reason: QuarantineReason.AGENT, coarse: key.coarse ? 1 : 0,
    });
    this.changed(key.tgid);
  }

  list(): QuarantinedProcess[] {
    return [...this.#o.map.entries()].map(([tgid, q]) => view(tgid, q)).sort((a, b) => a.key.tgid - b.key.tgid);
  }

  /** Ends the quarantine of the process with this pid: its connects and Workload API calls work again. */
  release(tgid: number): QuarantinedProcess {
    const q = this.#o.map.take(tgid);
    if (q === undefined) throw new ProfileError('NOT_QUARANTINED', `no quarantined process has pid ${tgid}`);
    this.changed(tgid);
    return view(tgid, q);
  }

  /** Told when a process's quarantine began (here or in the kernel) or ended. */
  onChange(listener: (tgid: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The kernel quarantined `tgid` (a profile event says so): tell the listeners. */
  changed(tgid: number): void {
    for (const l of this.#listeners) l(tgid);
  }
}

function view(tgid: number, q: Quarantine): QuarantinedProcess {
  return {
    key: { tgid, startNs: q.startNs, ...(q.coarse ? { coarse: true } : {}) }, identity: q.id,
    reason: q.reason === QuarantineReason.EXEC ? 'exec' : q.reason === QuarantineReason.CONNECT ? 'connect' : 'agent', sinceNs: q.sinceNs,
  };
}
