import { describe, expect, it } from 'vitest';
import { ProcessTracker } from '../../../agent/attest/process-tracker.js';
import { StartClock } from '../../../agent/attest/start-clock.js';
import { ProcKind } from '../../../agent/kernel/index.js';
import { FakeBootClock } from '../../fakes/fake-boot-clock.js';
import { FakeProcEvents, procEvent } from '../../fakes/fake-proc-events.js';
import { FakeProcReader, snapshot } from '../../fakes/fake-proc-reader.js';

const TICK = 10_000_000n; // USER_HZ 100
const SCAN_NS = 50_000_000_000n; // boot time when start() scans /proc

interface Rig {
  readonly tracker: ProcessTracker;
  readonly events: FakeProcEvents;
  readonly reader: FakeProcReader;
  readonly boot: FakeBootClock;
  readonly resyncs: Array<[reason: string, processes: number]>;
}

// init (1), a shell (100) it started, and a process (150) whose exit the tests will lose.
function rig(): Rig {
  const events = new FakeProcEvents();
  const reader = new FakeProcReader([
    snapshot({ tgid: 1, ppid: 0, startTicks: 1n, comm: 'init' }),
    snapshot({ tgid: 100, ppid: 1, startTicks: 300n, comm: 'sh' }),
    snapshot({ tgid: 150, ppid: 100, startTicks: 400n, comm: 'doomed' }),
  ]);
  const boot = new FakeBootClock(SCAN_NS);
  const resyncs: Array<[string, number]> = [];
  const tracker = new ProcessTracker({
    reader, clock: new StartClock(100), bootNs: boot.now, openEvents: events.open,
    onResync: (reason, processes) => resyncs.push([reason, processes]),
  });
  return { tracker, events, reader, boot, resyncs };
}

const tgids = (t: ProcessTracker): number[] => [...t.table.values()].map((r) => r.key.tgid).sort((a, b) => a - b);

describe('ProcessTracker.start', () => {
  it('opens the events, then seeds the table from /proc with lineage from the scan', () => {
    const { tracker, events, reader, resyncs } = rig();
    tracker.start();
    expect(events.opened).toBe(1);
    expect(reader.scans).toBe(1);
    expect(tgids(tracker)).toEqual([1, 100, 150]);
    expect(tracker.table.current(100)).toMatchObject({ key: { tgid: 100, startNs: 300n * TICK }, ppid: 1, parentStartNs: TICK });
    expect(tracker.table.current(1)?.parentStartNs).toBeNull(); // pid 0 is not in /proc
    expect(resyncs).toEqual([['start', 3]]);
    expect(tracker.stats()).toEqual({ processes: 3, eventsApplied: 0, eventsDropped: 0n, resyncs: 0 });
  });

  it('skips a pid that is gone between listing and reading', () => {
    const { tracker, reader } = rig();
    reader.vanishing.add(777);
    tracker.start();
    expect(tracker.table.current(777)).toBeUndefined();
    expect(tracker.table.size).toBe(3);
  });
});

describe('ProcessTracker events', () => {
  it('skips forks and execs written before the scan began, applies exits always and later events in order', () => {
    const { tracker, events } = rig();
    tracker.start();
    events.push([
      // An exit is true whenever it was written: the scan caught 100 mid-exit, before it was a zombie.
      procEvent({ kind: ProcKind.EXIT, tgid: 100, startNs: 300n * TICK, ktimeNs: SCAN_NS - 1n }),
      procEvent({ kind: ProcKind.FORK, tgid: 200, startNs: SCAN_NS - 5n, ktimeNs: SCAN_NS - 5n }),
      procEvent({ kind: ProcKind.FORK, tgid: 201, startNs: SCAN_NS, ktimeNs: SCAN_NS, ppid: 100, parentStartNs: 300n * TICK }),
      procEvent({ kind: ProcKind.EXIT, tgid: 150, startNs: 400n * TICK, ktimeNs: SCAN_NS + 1n }),
    ]);
    expect(tgids(tracker)).toEqual([1, 201]);
    expect(tracker.table.current(201)?.parentStartNs).toBe(300n * TICK);
    expect(tracker.stats()).toMatchObject({ processes: 2, eventsApplied: 3, resyncs: 0 });
  });

  it('sync() drains what the ring holds now', () => {
    const { tracker, events } = rig();
    tracker.start();
    events.queue([procEvent({ kind: ProcKind.EXIT, tgid: 150, startNs: 400n * TICK, ktimeNs: SCAN_NS + 1n })]);
    expect(tracker.table.current(150)).toBeDefined();
    tracker.sync();
    expect(tracker.table.current(150)).toBeUndefined();
    expect(tracker.stats().eventsApplied).toBe(1);
  });
});

describe('ProcessTracker resync on drops', () => {
  it('rebuilds the table from /proc when the kernel counts dropped events', () => {
    const { tracker, events, reader, boot, resyncs } = rig();
    tracker.start();
    // The ring overflowed: 150's exit and 300's fork were never delivered; /proc shows both.
    reader.procs.delete(150);
    reader.set(snapshot({ tgid: 300, ppid: 100, startTicks: 5001n, comm: 'new' }));
    const resyncAt = boot.advance(2_000_000_000n);
    events.drops = 3n;
    events.push([procEvent({ kind: ProcKind.FORK, tgid: 250, startNs: SCAN_NS + 10n, ktimeNs: SCAN_NS + 10n })]);

    expect(reader.scans).toBe(2);
    expect(tgids(tracker)).toEqual([1, 100, 300]); // 250 is not in /proc: the scan is the truth
    expect(tracker.table.current(300)).toMatchObject({ parentStartNs: 300n * TICK, source: 'scan' });
    expect(tracker.stats()).toEqual({ processes: 3, eventsApplied: 1, eventsDropped: 3n, resyncs: 1 });
    expect(resyncs).toEqual([['start', 3], ['drops', 3]]);

    // The resync moved the cut: forks before it are already in the new scan; exits still apply.
    events.push([
      procEvent({ kind: ProcKind.FORK, tgid: 350, startNs: resyncAt - 2n, ktimeNs: resyncAt - 2n }),
      procEvent({ kind: ProcKind.EXIT, tgid: 300, startNs: 5001n * TICK, ktimeNs: resyncAt - 1n }),
      procEvent({ kind: ProcKind.FORK, tgid: 400, startNs: resyncAt + 1n, ktimeNs: resyncAt + 1n }),
    ]);
    expect(tgids(tracker)).toEqual([1, 100, 400]);
    expect(tracker.stats()).toMatchObject({ eventsApplied: 3, resyncs: 1 });
  });

  it('does not resync while the drop counter stays where it was', () => {
    const { tracker, events, reader, resyncs } = rig();
    events.drops = 5n; // drops from before this agent started: the start scan covers them
    tracker.start();
    reader.procs.delete(150);
    events.push([procEvent({ kind: ProcKind.FORK, tgid: 250, startNs: SCAN_NS + 10n, ktimeNs: SCAN_NS + 10n })]);
    expect(reader.scans).toBe(1);
    expect(tgids(tracker)).toEqual([1, 100, 150, 250]);
    expect(tracker.stats()).toEqual({ processes: 4, eventsApplied: 1, eventsDropped: 5n, resyncs: 0 });
    expect(resyncs).toEqual([['start', 3]]);

    // Lost after the last event read: no event carries it; the kernel's counter shows it to sync().
    events.drops = 6n;
    expect(tracker.stats()).toMatchObject({ eventsDropped: 5n, resyncs: 0 });
    tracker.sync();
    expect(tracker.stats()).toMatchObject({ eventsDropped: 6n, resyncs: 1 });
    expect(tgids(tracker)).toEqual([1, 100]);
  });
});

describe('ProcessTracker.stop', () => {
  it('closes the events once, and sync() after it drains nothing', () => {
    const { tracker, events } = rig();
    tracker.start();
    tracker.stop();
    expect(events.closes).toBe(1);
    events.queue([procEvent({ kind: ProcKind.EXIT, tgid: 150, startNs: 400n * TICK, ktimeNs: SCAN_NS + 1n })]);
    tracker.sync();
    tracker.stop();
    expect(events.closes).toBe(1);
    expect(tracker.table.current(150)).toBeDefined();
  });
});

describe('ProcessTracker.onStarted', () => {
  it('tells listeners of the processes each batch started (not those that also exited in it), and of rebuilds', () => {
    const { tracker, events } = rig();
    const told: string[] = [];
    const stop = tracker.onStarted((c) => told.push(c.kind === 'resync' ? 'resync' : c.records.map((r) => r.key.tgid).join(',')));
    tracker.start();
    events.push([
      procEvent({ kind: ProcKind.FORK, tgid: 300, startNs: SCAN_NS + 1n, ktimeNs: SCAN_NS + 1n, ppid: 100, parentStartNs: 300n * TICK }),
      procEvent({ kind: ProcKind.EXEC, tgid: 300, startNs: SCAN_NS + 1n, ktimeNs: SCAN_NS + 2n }),
      procEvent({ kind: ProcKind.FORK, tgid: 301, startNs: SCAN_NS + 3n, ktimeNs: SCAN_NS + 3n, ppid: 100, parentStartNs: 300n * TICK }),
      procEvent({ kind: ProcKind.EXIT, tgid: 301, startNs: SCAN_NS + 3n, ktimeNs: SCAN_NS + 4n }),
      procEvent({ kind: ProcKind.EXIT, tgid: 150, startNs: 400n * TICK, ktimeNs: SCAN_NS + 5n }),
    ]);
    stop();
    events.push([procEvent({ kind: ProcKind.FORK, tgid: 302, startNs: SCAN_NS + 6n, ktimeNs: SCAN_NS + 6n, ppid: 100, parentStartNs: 300n * TICK })]);
    expect(told).toEqual(['resync', '300']);
  });
});
