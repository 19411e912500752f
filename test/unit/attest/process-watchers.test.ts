import { describe, expect, it } from 'vitest';
import { ProcessTracker } from '../../../agent/attest/process-tracker.js';
import { StartClock } from '../../../agent/attest/start-clock.js';
import { ProcKind } from '../../../agent/kernel/index.js';
import { FakeBootClock } from '../../fakes/fake-boot-clock.js';
import { FakeProcEvents, procEvent } from '../../fakes/fake-proc-events.js';
import { FakeProcReader, snapshot } from '../../fakes/fake-proc-reader.js';

const TICK = 10_000_000n;
const SCAN_NS = 1_000n * 1_000_000_000n;

function rig(): { tracker: ProcessTracker; events: FakeProcEvents; reader: FakeProcReader } {
  const events = new FakeProcEvents();
  const reader = new FakeProcReader([
    snapshot({ tgid: 1, ppid: 0, startTicks: 1n }),
    snapshot({ tgid: 100, ppid: 1, startTicks: 300n, exeIno: 7n }),
  ]);
  const tracker = new ProcessTracker({ reader, clock: new StartClock(100), bootNs: new FakeBootClock(SCAN_NS).now, openEvents: events.open });
  tracker.start();
  return { tracker, events, reader };
}

describe('ProcessTracker.watch', () => {
  it('tells a watcher of its own process\'s exec and exit, and no other process\'s', () => {
    const { tracker, events } = rig();
    const seen: string[] = [];
    const rec = tracker.table.current(100);
    if (!rec) throw new Error('no record');
    const unwatch = tracker.watch(rec, (c) => seen.push(c));
    events.push([
      procEvent({ kind: ProcKind.EXEC, tgid: 1, startNs: 1n * TICK }),
      procEvent({ kind: ProcKind.EXEC, tgid: 100, startNs: 300n * TICK + 5n }), // the same process: /proc's key is one tick
      procEvent({ kind: ProcKind.EXIT, tgid: 100, startNs: 300n * TICK + 5n }),
    ]);
    expect(seen).toEqual(['exec', 'exit']);
    unwatch();
    events.push([procEvent({ kind: ProcKind.EXEC, tgid: 100, startNs: 300n * TICK + 5n })]);
    expect(seen).toEqual(['exec', 'exit']);
  });

  it('ignores a later process that was given the same pid', () => {
    const { tracker, events } = rig();
    const seen: string[] = [];
    const rec = tracker.table.current(100);
    if (!rec) throw new Error('no record');
    tracker.watch(rec, (c) => seen.push(c));
    events.push([procEvent({ kind: ProcKind.EXIT, tgid: 100, startNs: 900n * TICK })]);
    expect(seen).toEqual([]);
  });

  it('reports what lost events would have said after a resync: gone, or running another program', () => {
    const { tracker, events, reader } = rig();
    const seen: Array<[number, string]> = [];
    const init = tracker.table.current(1);
    const sh = tracker.table.current(100);
    if (!init || !sh) throw new Error('no record');
    tracker.watch(init, (c) => seen.push([1, c]));
    tracker.watch(sh, (c) => seen.push([100, c]));
    reader.procs.delete(100);
    reader.set(snapshot({ tgid: 1, ppid: 0, startTicks: 1n, exeIno: 99n }));
    events.drops = 1n;
    tracker.sync();
    expect(seen.sort()).toEqual([[1, 'exec'], [100, 'exit']]);
  });
});
