import type { ProcEvent } from '../../agent/kernel/index.js';
import type { ProcEvents } from '../../agent/attest/process-tracker.js';

/**
 * The kernel's exec/fork/exit stream, driven by the test: `open` is what ProcessTracker's
 * `openEvents` option takes; it keeps the tracker's callback so `push` can deliver a batch as the
 * loop would, and `queue` holds one back until the tracker asks with drain(). The counters are
 * plain fields: raise `drops` to stand for a full ring; events pushed after carry it in `lost`.
 */
export class FakeProcEvents implements ProcEvents {
  events = 0n;
  drops = 0n;
  closes = 0;
  opened = 0;
  #onEvents: ((events: ProcEvent[]) => void) | undefined;
  readonly #queued: ProcEvent[][] = [];

  readonly open = (onEvents: (events: ProcEvent[]) => void): ProcEvents => {
    this.opened++;
    this.#onEvents = onEvents;
    return this;
  };

  /** Delivers a batch now, as a ring buffer wake-up would. */
  push(batch: ProcEvent[]): void {
    if (this.#onEvents === undefined) throw new Error('FakeProcEvents: push before the tracker opened the stream');
    if (this.closed) throw new Error('FakeProcEvents: push after close');
    this.events += BigInt(batch.length);
    // the kernel stamps each event with the ring-wide loss so far
    this.#onEvents(batch.map((e) => ({ ...e, lost: this.drops })));
  }

  /** Holds a batch in the "ring" until drain(). */
  queue(batch: ProcEvent[]): void {
    this.#queued.push(batch);
  }

  lost(): bigint {
    return this.drops;
  }

  drain(): number {
    let n = 0;
    for (let batch = this.#queued.shift(); batch !== undefined; batch = this.#queued.shift()) {
      n += batch.length;
      this.push(batch);
    }
    return n;
  }

  get closed(): boolean {
    return this.closes > 0;
  }

  close(): void {
    this.closes++;
  }
}

/**
 * One event as kernel/ decodes it; anything not given is a plain user process with an executable
 * on disk. ktimeNs defaults to far in the future of any fake boot clock, so it is never skipped.
 */
export function procEvent(e: Partial<ProcEvent> & Pick<ProcEvent, 'kind' | 'tgid' | 'startNs'>): ProcEvent {
  return {
    pid: e.tgid, ppid: 1, parentStartNs: 0n, cgroupId: 1n, exeIno: 4242n, ktimeNs: 1n << 62n, lost: 0n,
    exeDev: (8 << 20) | 1, uid: 1000, gid: 1000, exitCode: 0, comm: `p${e.tgid}`, filename: '', ...e,
  };
}
