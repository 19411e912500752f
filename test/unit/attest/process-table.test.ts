import { describe, expect, it } from 'vitest';
import { ProcessTable } from '../../../agent/attest/process-table.js';
import { StartClock } from '../../../agent/attest/start-clock.js';
import { ProcKind } from '../../../agent/kernel/index.js';
import { procEvent } from '../../fakes/fake-proc-events.js';
import { snapshot } from '../../fakes/fake-proc-reader.js';

// USER_HZ 100: one tick is 10 ms, so /proc's start times are 10_000_000 ns apart.
const HZ = 100;
const TICK = 10_000_000n;
const BASH = { exeDev: (8 << 20) | 1, exeIno: 1111n };
const APP = { exeDev: (8 << 20) | 1, exeIno: 2222n };

function table(): ProcessTable {
  return new ProcessTable(new StartClock(HZ));
}

/** A parent known with its resolved path: /proc gives exe, events never do. */
function withSeededBash(t: ProcessTable): { tgid: number; startNs: bigint } {
  t.seed(snapshot({ tgid: 100, ppid: 1, startTicks: 500n, exe: '/usr/bin/bash', ...BASH }), null);
  return { tgid: 100, startNs: 500n * TICK };
}

describe('StartClock', () => {
  it('truncates ns to ticks as the kernel does (nsec_to_clock_t) and back', () => {
    const c = new StartClock(HZ);
    expect(c.tickNs).toBe(TICK);
    expect(c.ticks(123_456_789_999n)).toBe(12345n);
    expect(c.fromTicks(12345n)).toBe(123_450_000_000n);
  });

  it('matches a /proc (coarse) key to an event key when tgid and tick agree', () => {
    const c = new StartClock(HZ);
    expect(c.same({ tgid: 7, startNs: 123_450_000_000n, coarse: true }, { tgid: 7, startNs: 123_459_999_999n })).toBe(true);
    expect(c.same({ tgid: 7, startNs: 123_459_999_999n }, { tgid: 7, startNs: 123_450_000_000n, coarse: true })).toBe(true);
    expect(c.same({ tgid: 7, startNs: 123_450_000_000n, coarse: true }, { tgid: 7, startNs: 123_460_000_000n })).toBe(false);
    expect(c.same({ tgid: 7, startNs: 123_450_000_000n, coarse: true }, { tgid: 8, startNs: 123_450_000_000n })).toBe(false);
  });

  it('tells apart two event keys of one pid within one tick (pid reused inside 10 ms)', () => {
    const c = new StartClock(HZ);
    expect(c.same({ tgid: 7, startNs: 123_450_000_001n }, { tgid: 7, startNs: 123_450_000_002n })).toBe(false);
    expect(c.same({ tgid: 7, startNs: 123_450_000_001n }, { tgid: 7, startNs: 123_450_000_001n })).toBe(true);
  });
});

describe('ProcessTable.apply', () => {
  it('adds a forked child with its parent\'s exact lineage', () => {
    const t = table();
    const parent = withSeededBash(t);
    t.apply(procEvent({
      kind: ProcKind.FORK, tgid: 200, startNs: 9_000_000_123n, ppid: parent.tgid, parentStartNs: 5_000_000_042n,
      uid: 1001, gid: 1002, comm: 'bash', cgroupId: 77n, ...BASH,
    }));
    expect(t.size).toBe(2);
    expect(t.get({ tgid: 200, startNs: 9_000_000_123n })).toEqual({
      key: { tgid: 200, startNs: 9_000_000_123n }, ppid: 100, parentStartNs: 5_000_000_042n, uid: 1001, gid: 1002,
      comm: 'bash', exe: '/usr/bin/bash', execFilename: null, exeDev: BASH.exeDev, exeIno: BASH.exeIno,
      cgroupId: 77n, cgroupPath: null, source: 'event',
    });
  });

  it('gives a fork its parent\'s resolved exe only when the executable\'s dev and inode match', () => {
    const t = table();
    const parent = withSeededBash(t);
    const fork = { kind: ProcKind.FORK, ppid: parent.tgid, parentStartNs: parent.startNs };
    t.apply(procEvent({ ...fork, tgid: 201, startNs: 6_000_000_000n, ...BASH }));
    t.apply(procEvent({ ...fork, tgid: 202, startNs: 6_000_000_000n, ...APP }));
    t.apply(procEvent({ ...fork, tgid: 203, startNs: 6_000_000_000n, exeDev: BASH.exeDev + 1, exeIno: BASH.exeIno }));
    expect(t.current(201)?.exe).toBe('/usr/bin/bash');
    expect(t.current(202)?.exe).toBeNull();
    expect(t.current(203)?.exe).toBeNull();
  });

  it('does not inherit from a process that merely holds the parent\'s pid now', () => {
    const t = table();
    const parent = withSeededBash(t);
    // Forked by an older process 100 (a tick before the one in the table): not this parent.
    t.apply(procEvent({
      kind: ProcKind.FORK, tgid: 204, startNs: 6_000_000_000n, ppid: parent.tgid, parentStartNs: parent.startNs - TICK, ...BASH,
    }));
    expect(t.current(204)?.exe).toBeNull();
    expect(t.current(204)?.parentStartNs).toBe(parent.startNs - TICK);
  });

  it('carries the exec filename down a fork of an exec\'d process with the same file', () => {
    const t = table();
    t.apply(procEvent({ kind: ProcKind.EXEC, tgid: 300, startNs: 7_000_000_000n, filename: './app', ...APP }));
    t.apply(procEvent({ kind: ProcKind.FORK, tgid: 301, startNs: 8_000_000_000n, ppid: 300, parentStartNs: 7_000_000_000n, ...APP }));
    expect(t.current(301)).toMatchObject({ exe: null, execFilename: './app' });
  });

  it('replaces the executable and the ids on exec: exe unknown again, execFilename the hint', () => {
    const t = table();
    const bash = withSeededBash(t);
    t.apply(procEvent({
      kind: ProcKind.EXEC, tgid: bash.tgid, startNs: bash.startNs, ppid: 1, parentStartNs: 1_000n, uid: 0, gid: 0,
      comm: 'app', filename: './app', ...APP,
    }));
    expect(t.size).toBe(1);
    expect(t.get(bash)).toMatchObject({
      exe: null, execFilename: './app', uid: 0, gid: 0, comm: 'app', exeIno: APP.exeIno, source: 'event',
    });
  });

  it('removes a process on exit when the start time matches at tick precision', () => {
    const t = table();
    const bash = withSeededBash(t);
    // /proc said tick 500; the event has the kernel's ns, 9.99 ms into that tick.
    t.apply(procEvent({ kind: ProcKind.EXIT, tgid: bash.tgid, startNs: bash.startNs + TICK - 1n }));
    expect(t.size).toBe(0);
    expect(t.current(bash.tgid)).toBeUndefined();
  });

  it('ignores the exit of an older process with the same tgid (pid reuse)', () => {
    const t = table();
    const bash = withSeededBash(t);
    t.apply(procEvent({ kind: ProcKind.EXIT, tgid: bash.tgid, startNs: bash.startNs - 1n }));
    t.apply(procEvent({ kind: ProcKind.EXIT, tgid: bash.tgid, startNs: 1_000_000n }));
    expect(t.get(bash)?.exe).toBe('/usr/bin/bash');
    expect(t.size).toBe(1);
  });

  it('ignores the exit of a process it never knew', () => {
    const t = table();
    withSeededBash(t);
    t.apply(procEvent({ kind: ProcKind.EXIT, tgid: 999, startNs: 5_000_000_000n }));
    expect(t.size).toBe(1);
  });

  it('updates the cgroup id on a cgroup move and drops the /proc path that no longer holds', () => {
    const t = table();
    t.seed(snapshot({ tgid: 400, startTicks: 700n, cgroupPath: '/old.slice', exe: '/usr/bin/app', ...APP }), 5n);
    t.apply(procEvent({ kind: ProcKind.CGROUP, tgid: 400, startNs: 700n * TICK + 3n, cgroupId: 9001n, uid: 5 }));
    // Only the cgroup moves: the rest of the seeded record (its resolved exe, uid, source) stays.
    expect(t.current(400)).toMatchObject({
      cgroupId: 9001n, cgroupPath: null, exe: '/usr/bin/app', uid: 1000, parentStartNs: 5n, source: 'scan',
    });
  });

  it('records a process first seen by its cgroup move', () => {
    const t = table();
    t.apply(procEvent({ kind: ProcKind.CGROUP, tgid: 401, startNs: 1_000n, cgroupId: 12n }));
    expect(t.current(401)).toMatchObject({ cgroupId: 12n, cgroupPath: null, exe: null, source: 'event' });
  });

  it('gives kernel threads (no exe file: dev 0, inode 0) null exe fields', () => {
    const t = table();
    t.apply(procEvent({ kind: ProcKind.FORK, tgid: 2, startNs: 10n, ppid: 0, exeDev: 0, exeIno: 0n, comm: 'kthreadd' }));
    expect(t.current(2)).toMatchObject({ exe: null, execFilename: null, exeDev: null, exeIno: null });
  });

  it('keeps a real file whose dev or inode alone is 0', () => {
    const t = table();
    t.apply(procEvent({ kind: ProcKind.FORK, tgid: 3, startNs: 10n, exeDev: 0, exeIno: 55n }));
    expect(t.current(3)).toMatchObject({ exeDev: 0, exeIno: 55n });
    t.apply(procEvent({ kind: ProcKind.FORK, tgid: 4, startNs: 10n, exeDev: 45, exeIno: 0n }));
    expect(t.current(4)).toMatchObject({ exeDev: 45, exeIno: 0n });
  });

  it('ignores a kind this build does not know', () => {
    const t = table();
    const bash = withSeededBash(t);
    const before = t.get(bash);
    t.apply(procEvent({ kind: 99, tgid: 500, startNs: 1n }));
    t.apply(procEvent({ kind: 99, tgid: bash.tgid, startNs: bash.startNs, uid: 0 }));
    expect(t.size).toBe(1);
    expect(t.get(bash)).toBe(before);
  });
});

describe('ProcessTable lookups', () => {
  it('get() answers only for the same start time; current() for whoever holds the tgid', () => {
    const t = table();
    const bash = withSeededBash(t);
    expect(t.get({ tgid: bash.tgid, startNs: bash.startNs + TICK })).toBeUndefined();
    expect(t.get({ tgid: bash.tgid + 1, startNs: bash.startNs })).toBeUndefined();
    expect(t.current(bash.tgid)?.key.startNs).toBe(bash.startNs);
  });

  it('seed() converts /proc ticks to ns, and same() matches an event\'s ns key at tick precision', () => {
    const t = table();
    t.seed(snapshot({ tgid: 42, ppid: 1, startTicks: 12345n, comm: 'srv', cgroupPath: '/system.slice/srv.service' }), 77n);
    const r = t.current(42);
    expect(r).toMatchObject({
      key: { tgid: 42, startNs: 123_450_000_000n }, ppid: 1, parentStartNs: 77n, comm: 'srv', execFilename: null,
      cgroupId: null, cgroupPath: '/system.slice/srv.service', source: 'scan',
    });
    expect(t.get({ tgid: 42, startNs: 123_456_789_999n })).toBe(r);
    expect(t.get({ tgid: 42, startNs: 123_460_000_000n })).toBeUndefined();
  });

  it('replace() keeps a new version of the same process, and never lands on a reused pid', () => {
    const t = table();
    const bash = withSeededBash(t);
    const old = t.get(bash);
    if (!old) throw new Error('seeded record missing');
    t.replace({ ...old, comm: 'renamed' });
    expect(t.get(bash)?.comm).toBe('renamed');
    t.replace({ ...old, key: { tgid: bash.tgid, startNs: bash.startNs + TICK }, comm: 'other' });
    expect(t.current(bash.tgid)?.comm).toBe('renamed');
    t.clear();
    expect(t.size).toBe(0);
  });
});
