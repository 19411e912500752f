import { ProcEventSource, ProcKind, type ProcEvent } from '../kernel/index.js';
import { ProcessTable } from './process-table.js';
import type { StartClock } from './start-clock.js';
import { ProcessWatchers, type ProcessChange } from './process-watchers.js';
import type { ProcessRecord } from './process-table.js';
import type { ProcReader, ProcSnapshot } from './proc-reader.js';

/** What the tracker needs of the kernel's event stream (kernel/ProcEventSource). */
export interface ProcEvents {
  /** Events lost so far (what the next event carries in `lost`). */
  lost(): bigint;
  drain(): number;
  close(): void;
}

/** Processes a batch of events started (or moved to another cgroup), or a rebuild of the whole table. */
export type ProcessStarts = { readonly kind: 'started'; readonly records: readonly ProcessRecord[] } | { readonly kind: 'resync' };

export interface TrackerStats {
  readonly processes: number;
  readonly eventsApplied: number;
  readonly eventsDropped: bigint;
  readonly resyncs: number;
}

export interface ProcessTrackerOptions {
  readonly reader: ProcReader;
  readonly clock: StartClock;
  /** CLOCK_BOOTTIME in ns, the clock of the events' ktimeNs. */
  readonly bootNs: () => bigint;
  /** Opens the event stream; default the real tracepoints (kernel/ProcEventSource). */
  readonly openEvents?: (onEvents: (events: ProcEvent[]) => void) => ProcEvents;
  readonly onResync?: (reason: 'start' | 'drops', processes: number) => void;
  /** How often a quiet tracker asks the kernel whether events were lost after the last one it
   * read (a loss shows in the next event otherwise); default 1000 ms. */
  readonly lossCheckMs?: number;
}

/**
 * Keeps a ProcessTable exact: the kernel's exec/fork/exit events, applied in order, on top of a
 * /proc scan. Events start flowing before the scan; those written before the scan began are
 * skipped (the scan already shows their effect). When the kernel counts dropped events, the
 * table is rebuilt from /proc the same way, and the resync is counted.
 */
export class ProcessTracker {
  readonly table: ProcessTable;
  readonly #watchers: ProcessWatchers;
  readonly #options: ProcessTrackerOptions;
  #events: ProcEvents | undefined;
  #since = 0n;
  #dropsSeen = 0n;
  #applied = 0;
  #resyncs = 0;
  #lossTimer: NodeJS.Timeout | undefined;
  readonly #startListeners = new Set<(started: ProcessStarts) => void>();

  constructor(options: ProcessTrackerOptions) {
    this.#options = options;
    this.table = new ProcessTable(options.clock);
    this.#watchers = new ProcessWatchers(options.clock);
  }

  /** Attach the tracepoints, then seed from /proc. */
  start(): void {
    const open = this.#options.openEvents ?? ((onEvents) => ProcEventSource.open({ onEvents }));
    this.#events = open((events) => this.#onEvents(events));
    this.#resync('start');
    this.#lossTimer = setInterval(() => this.#checkLoss(), this.#options.lossCheckMs ?? 1000).unref();
  }

  /** Apply whatever the kernel has written so far (the loop does this on its own; tests and
   * one-shot commands ask for it to get an up-to-date table now). */
  sync(): void {
    this.#events?.drain();
    this.#checkLoss();
  }

  /** Tells `listener` when this process execs another program or exits (returns unwatch). */
  watch(record: ProcessRecord, listener: (change: ProcessChange) => void): () => void {
    return this.#watchers.watch(record, listener);
  }

  /**
   * Tells `listener` of the processes each batch of kernel events started (an exec runs a new
   * program, a fork makes a new process) or moved to another cgroup, and of every rebuild from
   * /proc, after which anything may have changed unseen. Returns unsubscribe.
   */
  onStarted(listener: (started: ProcessStarts) => void): () => void {
    this.#startListeners.add(listener);
    return () => { this.#startListeners.delete(listener); };
  }

  stats(): TrackerStats {
    return {
      processes: this.table.size,
      eventsApplied: this.#applied,
      eventsDropped: this.#dropsSeen,
      resyncs: this.#resyncs,
    };
  }

  stop(): void {
    clearInterval(this.#lossTimer);
    this.#events?.close();
    this.#events = undefined;
  }

  #onEvents(events: ProcEvent[]): void {
    let lost = this.#dropsSeen;
    const started = new Set<number>();
    for (const e of events) {
      if (e.lost > lost) lost = e.lost;
      // An exit is always true (the process is gone); anything else older than the last scan
      // is already in what the scan saw, and may describe a process that has gone since.
      if (e.ktimeNs < this.#since && e.kind !== ProcKind.EXIT) continue;
      this.table.apply(e);
      this.#applied++;
      this.#watchers.onEvent(e);
      if (e.kind === ProcKind.EXEC || e.kind === ProcKind.FORK || e.kind === ProcKind.CGROUP) started.add(e.tgid);
      else if (e.kind === ProcKind.EXIT) started.delete(e.tgid);
    }
    if (lost > this.#dropsSeen) this.#resync('drops');
    else if (started.size > 0 && this.#startListeners.size > 0) {
      const records = [...started].flatMap((tgid) => this.table.current(tgid) ?? []);
      this.#tell({ kind: 'started', records });
    }
  }

  /** A loss after the last event read shows only in the kernel's counter. */
  #checkLoss(): void {
    if (this.#events && this.#events.lost() > this.#dropsSeen) this.#resync('drops');
  }

  #resync(reason: 'start' | 'drops'): void {
    // Taken before the scan: a drop during it moves the counter past this and resyncs again.
    this.#since = this.#options.bootNs();
    this.#dropsSeen = this.#events?.lost() ?? 0n;
    const scanned = this.#scan();
    this.table.clear();
    for (const s of scanned.values()) {
      const parent = scanned.get(s.ppid);
      this.table.seed(s, parent ? this.#options.clock.fromTicks(parent.startTicks) : null);
    }
    if (reason === 'drops') this.#resyncs++;
    this.#watchers.afterResync(this.table);
    this.#tell({ kind: 'resync' });
    this.#options.onResync?.(reason, this.table.size);
  }

  #tell(change: ProcessStarts): void {
    for (const l of [...this.#startListeners]) l(change);
  }

  #scan(): Map<number, ProcSnapshot> {
    const out = new Map<number, ProcSnapshot>();
    for (const pid of this.#options.reader.listPids()) {
      const s = this.#options.reader.read(pid);
      // A zombie has run its exit tracepoint already: it is not a live process to track.
      if (s && s.state !== 'Z' && s.state !== 'X') out.set(s.tgid, s);
    }
    return out;
  }
}
