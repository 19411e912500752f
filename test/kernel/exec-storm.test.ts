import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcReader, hostTracker, type HostTracker } from '../../agent/attest/index.js';
import { ProcEventSource, ProcKind, type ProcEvent } from '../../agent/kernel/index.js';
import { exited } from '../support/wait.js';

const EXECS = 5000;

/** A shell that forks and execs /bin/true EXECS times, one after the other. */
async function storm(): Promise<number> {
  const child = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${EXECS} ]; do /bin/true; i=$((i+1)); done`], { stdio: 'ignore' });
  await exited(child);
  return child.pid as number;
}

/**
 * Every live process in /proc is in the table at its start time, and every record is a live
 * process: checked twice over a moment of churn (a process born or gone between the two reads
 * of one comparison is not a disagreement).
 */
function tableDisagreements(host: HostTracker): string[] {
  const reader = new ProcReader();
  const compare = (): string[] => {
    host.tracker.sync();
    const bad: string[] = [];
    const live = new Map<number, bigint>();
    for (const pid of reader.listPids()) {
      const s = reader.read(pid);
      if (s) live.set(s.tgid, s.startTicks);
    }
    for (const [tgid, ticks] of live) {
      if (!host.tracker.table.get({ tgid, startNs: ticks * 10_000_000n, coarse: true })) bad.push(`missing ${tgid}`); // /proc knows the start to a tick
    }
    for (const r of host.tracker.table.values()) {
      if (!live.has(r.key.tgid)) bad.push(`ghost ${r.key.tgid} (${r.comm})`);
    }
    return bad;
  };
  const first = compare();
  if (first.length === 0) return first;
  const second = new Set(compare());
  return first.filter((d) => second.has(d));
}

describe('a storm of 5,000 short-lived execs', () => {
  let host: HostTracker | undefined;
  afterEach(() => host?.tracker.stop());

  function track(ringBytes?: number): { host: HostTracker; execs: (parent: number) => number } {
    const events: ProcEvent[] = [];
    host = hostTracker({
      openEvents: (onEvents) => ProcEventSource.open({
        ...(ringBytes === undefined ? {} : { ringBytes }),
        onEvents: (batch) => { for (const e of batch) if (e.kind === ProcKind.EXEC && e.filename === '/bin/true') events.push(e); onEvents(batch); },
      }),
    });
    host.tracker.start();
    return { host, execs: (parent) => events.filter((e) => e.ppid === parent).length };
  }

  it('sees every exec, or counts the loss and resyncs (default ring)', async () => {
    const { host, execs } = track();
    const parent = await storm();
    host.tracker.sync();
    const s = host.tracker.stats();
    if (s.eventsDropped === 0n) expect(execs(parent)).toBe(EXECS);
    else expect(s.resyncs).toBeGreaterThan(0);
    expect(tableDisagreements(host)).toEqual([]);
  });

  it('counts the loss in a ring too small to keep up, and the resync restores an exact table', async () => {
    const { host, execs } = track(4096); // one page: about a dozen events
    const parent = await storm();
    host.tracker.sync();
    const s = host.tracker.stats();
    expect(s.eventsDropped).toBeGreaterThan(0n);
    expect(s.resyncs).toBeGreaterThan(0);
    expect(execs(parent)).toBeLessThan(EXECS);
    expect(tableDisagreements(host)).toEqual([]);
  });
});
