import { AttestError, type ProcessRecord, type ProcessStarts } from '../attest/index.js';
import type { SockMaps } from '../kernel/index.js';
import { matchEntries, type Entry } from '../registry/index.js';
import type { SpiffeId } from '../spiffe/index.js';

export interface UserSpaceIdentitiesOptions {
  readonly identities: Pick<SockMaps['identities'], 'lookup' | 'update' | 'delete'>;
  /** The process table's live record for a tgid. */
  readonly current: (tgid: number) => ProcessRecord | undefined;
  readonly all: () => Iterable<ProcessRecord>;
  readonly selectorsOf: (record: ProcessRecord, options: { sha256: boolean }) => Promise<string[]>;
  /** The identity the kernel gives this process's program at exec (KernelIdentities). */
  readonly identityAtExec: (record: ProcessRecord) => number | undefined;
  /** Only processes in the enforcement cgroup's subtree matter: the hooks act nowhere else. */
  readonly inScope: (record: ProcessRecord) => boolean;
  readonly onError: (err: unknown) => void;
}

/**
 * proc_identity for what the kernel cannot decide at exec: entries with selectors other than one
 * unix:path (+ unix:uid) or one cgroup:path (user names, lineage, sha256, several selectors...).
 * For each process the exec, fork and cgroup-move events report in scope, and for every process
 * in scope when the entries change or the table is rebuilt:
 * - a program the kernel names at exec keeps (is given again) the kernel's identity, so a write
 *   of ours that raced an exec is corrected by that exec's own event;
 * - otherwise the first entry in file order that matches the process's selectors gives it, and
 *   with none its identity is removed.
 * A process is unidentified from its exec until this runs (milliseconds): with `unidentified:
 * deny` its first connects in that window fail. Kernel-decidable entries have no such window.
 */
export class UserSpaceIdentities {
  readonly #o: UserSpaceIdentitiesOptions;
  #entries: readonly Entry[] = [];
  #numberOf: (id: SpiffeId) => number = () => 0;
  #needSha = false;
  #userSpaceOnly = false;
  #pending: Promise<void> = Promise.resolve();

  constructor(options: UserSpaceIdentitiesOptions) {
    this.#o = options;
  }

  /** New entries (KernelIdentities has synced them): every process in scope is decided again. */
  setEntries(entries: readonly Entry[], userSpaceOnly: number, numberOf: (id: SpiffeId) => number): Promise<void> {
    this.#entries = entries;
    this.#numberOf = numberOf;
    this.#needSha = entries.some((e) => e.selectors.some((s) => s.startsWith('unix:sha256:')));
    this.#userSpaceOnly = userSpaceOnly > 0;
    return this.sweep();
  }

  /** The tracker's onStarted listener. */
  readonly onStarted = (change: ProcessStarts): void => {
    if (change.kind === 'resync') { void this.sweep(); return; }
    for (const r of change.records) if (this.#o.inScope(r)) this.#queue(r);
  };

  /** Resolves when every decision queued so far is written. */
  settled(): Promise<void> {
    return this.#pending;
  }

  sweep(): Promise<void> {
    for (const r of this.#o.all()) if (this.#o.inScope(r)) this.#queue(r);
    return this.#pending;
  }

  #queue(r: ProcessRecord): void {
    const kernel = this.#o.identityAtExec(r);
    if (kernel !== undefined) { this.#write(r, kernel); return; }
    if (!this.#userSpaceOnly && this.#o.identities.lookup(r.key.tgid) === undefined) return; // nothing to decide or undo
    // One chain: decisions are written in the order the events came.
    this.#pending = this.#pending.then(() => this.#decide(r)).catch((err: unknown) => {
      if (!(err instanceof AttestError)) this.#o.onError(err); // a process gone meanwhile needs nothing
    });
  }

  async #decide(r: ProcessRecord): Promise<void> {
    const selectors = new Set(await this.#o.selectorsOf(r, { sha256: this.#needSha }));
    if (!sameProgram(this.#o.current(r.key.tgid), r)) return; // it exec'd, moved or exited meanwhile: its own event decides
    const entry = matchEntries(this.#entries, selectors)[0];
    if (entry !== undefined) this.#write(r, this.#numberOf(entry.spiffeId));
    else this.#o.identities.delete(r.key.tgid);
  }

  #write(r: ProcessRecord, id: number): void {
    const now = this.#o.identities.lookup(r.key.tgid);
    const coarse = r.key.coarse ? 1 : 0;
    if (now?.id === id && now.startNs === r.key.startNs && now.coarse === coarse) return;
    this.#o.identities.update(r.key.tgid, { id, coarse, startNs: r.key.startNs });
  }
}

/** The same process still running the same program in the same cgroup (the table replaces a
 * record when it learns its exe path, so identity of the object says nothing). */
function sameProgram(now: ProcessRecord | undefined, then: ProcessRecord): boolean {
  return now !== undefined && now.key.startNs === then.key.startNs && now.exeIno === then.exeIno && now.exeDev === then.exeDev
    && now.cgroupId === then.cgroupId;
}
