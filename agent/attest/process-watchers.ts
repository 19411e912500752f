import { ProcKind, type ProcEvent } from '../kernel/index.js';
import type { ProcessKey, ProcessRecord, ProcessTable } from './process-table.js';
import type { StartClock } from './start-clock.js';

/** What can happen to a watched process: it runs another program now, or it is gone. */
export type ProcessChange = 'exec' | 'exit';

interface Watcher {
  readonly key: ProcessKey;
  /** The program it ran when the watch began: a resync that finds another one means an exec was missed. */
  readonly exe: { readonly dev: number | null; readonly ino: bigint | null };
  readonly listener: (change: ProcessChange) => void;
}

/**
 * Listeners on single processes (a Workload API stream on its caller): told of the kernel's exec
 * and exit events for exactly that process, and, after a resync from /proc (events were lost),
 * of whatever the lost events would have said.
 */
export class ProcessWatchers {
  readonly #byTgid = new Map<number, Set<Watcher>>();
  readonly #clock: StartClock;

  constructor(clock: StartClock) {
    this.#clock = clock;
  }

  get size(): number {
    let n = 0;
    for (const set of this.#byTgid.values()) n += set.size;
    return n;
  }

  watch(record: ProcessRecord, listener: (change: ProcessChange) => void): () => void {
    const w: Watcher = { key: record.key, exe: { dev: record.exeDev, ino: record.exeIno }, listener };
    const set = this.#byTgid.get(record.key.tgid) ?? new Set<Watcher>();
    set.add(w);
    this.#byTgid.set(record.key.tgid, set);
    return () => this.#remove(w);
  }

  /** After each event the table applied. */
  onEvent(e: ProcEvent): void {
    if (e.kind !== ProcKind.EXEC && e.kind !== ProcKind.EXIT) return;
    const set = this.#byTgid.get(e.tgid);
    if (!set) return;
    const key: ProcessKey = { tgid: e.tgid, startNs: e.startNs };
    for (const w of [...set]) {
      if (this.#clock.same(w.key, key)) w.listener(e.kind === ProcKind.EXEC ? 'exec' : 'exit');
    }
  }

  /** After the table was rebuilt from /proc. */
  afterResync(table: ProcessTable): void {
    for (const set of [...this.#byTgid.values()]) {
      for (const w of [...set]) {
        const now = table.get(w.key);
        if (!now) w.listener('exit');
        else if (now.exeIno !== w.exe.ino || now.exeDev !== w.exe.dev) w.listener('exec');
      }
    }
  }

  #remove(w: Watcher): void {
    const set = this.#byTgid.get(w.key.tgid);
    if (!set) return;
    set.delete(w);
    if (set.size === 0) this.#byTgid.delete(w.key.tgid);
  }
}
