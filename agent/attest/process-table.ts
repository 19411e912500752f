import { ProcKind, type ProcEvent } from '../kernel/index.js';
import type { ProcSnapshot } from './proc-reader.js';
import type { StartClock } from './start-clock.js';

/**
 * A process: its tgid and the leader's start time (task->start_boottime, ns since boot). A pid
 * alone proves nothing: one tgid with two start times is two processes.
 */
export interface ProcessKey {
  readonly tgid: number;
  readonly startNs: bigint;
  /** Known only to a clock tick (from /proc, 10 ms here), not to the ns (from an event). Two
   * processes given one pid within one tick are told apart only by exact keys. */
  readonly coarse?: boolean;
}

/** What the kernel (or, for processes older than the agent, /proc) said about one process. */
export interface ProcessRecord {
  readonly key: ProcessKey;
  readonly ppid: number;
  /** The parent's start time: exact lineage, null when only /proc's ppid is known. */
  readonly parentStartNs: bigint | null;
  readonly uid: number;
  readonly gid: number;
  readonly comm: string;
  /** The executable's canonical path once known (/proc/<pid>/exe); null until resolved. */
  readonly exe: string | null;
  /** What execve() was given (may be relative or a symlink): a hint, never an identity. */
  readonly execFilename: string | null;
  /** The executable's file: kernel s_dev packing and inode; null for kernel threads. */
  readonly exeDev: number | null;
  readonly exeIno: bigint | null;
  /** cgroup v2 id from events; cgroupPath from /proc when the record was seeded there. */
  readonly cgroupId: bigint | null;
  readonly cgroupPath: string | null;
  readonly source: 'scan' | 'event';
}

/**
 * Every live process on the host, one record per tgid (the kernel never has two live processes
 * with one tgid), each checked against its start time. Events are applied in the order the
 * kernel wrote them; an event for an older process of the same tgid than the record is stale.
 */
export class ProcessTable {
  readonly #byTgid = new Map<number, ProcessRecord>();
  readonly #clock: StartClock;

  constructor(clock: StartClock) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#byTgid.size;
  }

  /** The record of exactly this process, or undefined (gone, or its pid now someone else's). */
  get(key: ProcessKey): ProcessRecord | undefined {
    const r = this.#byTgid.get(key.tgid);
    return r && this.#clock.same(r.key, key) ? r : undefined;
  }

  /** Whichever process holds this tgid now. */
  current(tgid: number): ProcessRecord | undefined {
    return this.#byTgid.get(tgid);
  }

  values(): IterableIterator<ProcessRecord> {
    return this.#byTgid.values();
  }

  /** Replaces a record (e.g. with its exe resolved) if it is still the same process. */
  replace(record: ProcessRecord): void {
    if (this.get(record.key)) this.#byTgid.set(record.key.tgid, record);
  }

  apply(e: ProcEvent): void {
    const key: ProcessKey = { tgid: e.tgid, startNs: e.startNs };
    switch (e.kind) {
      case ProcKind.FORK:
        this.#byTgid.set(e.tgid, this.#forked(e, key));
        return;
      case ProcKind.EXEC:
        this.#byTgid.set(e.tgid, { ...this.#fromEvent(e, key), execFilename: e.filename });
        return;
      case ProcKind.CGROUP: {
        const r = this.get(key);
        this.#byTgid.set(e.tgid, r ? { ...r, cgroupId: e.cgroupId, cgroupPath: null } : this.#fromEvent(e, key));
        return;
      }
      case ProcKind.EXIT:
        if (this.get(key)) this.#byTgid.delete(e.tgid);
        return;
      default:
        return; // a kind this build does not know: ignore rather than guess
    }
  }

  /** Adds a process read from /proc (older than the agent, or found by a resync). */
  seed(s: ProcSnapshot, parentStartNs: bigint | null): void {
    const key: ProcessKey = { tgid: s.tgid, startNs: this.#clock.fromTicks(s.startTicks), coarse: true };
    this.#byTgid.set(s.tgid, {
      key, ppid: s.ppid, parentStartNs, uid: s.uid, gid: s.gid, comm: s.comm, exe: s.exe, execFilename: null,
      exeDev: s.exeDev, exeIno: s.exeIno, cgroupId: null, cgroupPath: s.cgroupPath, source: 'scan',
    });
  }

  clear(): void {
    this.#byTgid.clear();
  }

  /** A fork inherits the parent's executable, so its resolved path too when the file matches. */
  #forked(e: ProcEvent, key: ProcessKey): ProcessRecord {
    const r = this.#fromEvent(e, key);
    const parent = this.get({ tgid: e.ppid, startNs: e.parentStartNs });
    if (parent && parent.exeDev === r.exeDev && parent.exeIno === r.exeIno) {
      return { ...r, exe: parent.exe, execFilename: parent.execFilename };
    }
    return r;
  }

  #fromEvent(e: ProcEvent, key: ProcessKey): ProcessRecord {
    const kernelThread = e.exeDev === 0 && e.exeIno === 0n;
    return {
      key, ppid: e.ppid, parentStartNs: e.parentStartNs, uid: e.uid, gid: e.gid, comm: e.comm, exe: null,
      execFilename: null, exeDev: kernelThread ? null : e.exeDev, exeIno: kernelThread ? null : e.exeIno,
      cgroupId: e.cgroupId, cgroupPath: null, source: 'event',
    };
  }
}
