import { spawn } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, parseStat, type HostTracker, type ProcessRecord } from '../../agent/attest/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, spawned, waitFor } from '../support/wait.js';
import { openFds } from '../support/fd-count.js';

// Real tracepoints in the real kernel, real processes in a child cgroup (never the v2 root).
const SLEEP = realpathSync('/bin/sleep');

describe('process tracking from exec/fork/exit tracepoints', () => {
  let host: HostTracker;
  let cg: TestCgroup;
  let fdsBefore: number;

  beforeAll(async () => {
    await exited(spawn('/bin/true')); // libuv opens its SIGCHLD pipe at the first spawn: not ours to count
    fdsBefore = await openFds();
    cg = TestCgroup.create('tether-kt-proc');
    host = hostTracker();
    host.tracker.start();
  });

  afterAll(async () => {
    host.tracker.stop();
    await cg.destroy();
    expect(await openFds()).toBe(fdsBefore);
  });

  const find = (pred: (r: ProcessRecord) => boolean): ProcessRecord | undefined => {
    host.tracker.sync();
    return [...host.tracker.table.values()].find(pred);
  };

  it('seeds processes that existed before it from /proc', () => {
    const me = host.tracker.table.current(process.pid);
    expect(me?.source).toBe('scan');
    const stat = parseStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8'));
    expect(me?.ppid).toBe(process.ppid);
    expect(host.tracker.table.get({ tgid: process.pid, startNs: stat.startTicks * 10_000_000n })).toBe(me);
  });

  it('sees an exec with its exe, uid, gid and cgroup, at the start time /proc reports', async () => {
    // setpriv changes uid/gid before exec'ing sleep: the exec event carries the new credentials
    const child = cg.spawn(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', SLEEP, '300']);
    await spawned(child);
    const pid = child.pid as number;
    const rec = await waitFor('the sleep exec', () => find((r) => r.key.tgid === pid && r.comm === 'sleep'));
    const info = host.describer.describe(rec);
    expect(info.exe).toBe(SLEEP);
    expect(rec.execFilename).toBe(SLEEP);
    expect([rec.uid, rec.gid]).toEqual([65534, 65534]);
    expect(rec.cgroupId).toBe(cg.id);
    expect(info.cgroup).toBe(cg.relPath);
    expect(rec.source).toBe('event');
    const ticks = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).startTicks;
    expect(rec.key.startNs / 10_000_000n).toBe(ticks);
    child.kill('SIGKILL');
    await exited(child);
  });

  it('gives a fork its parent lineage and inherited executable, and removes it at exit', async () => {
    // the shell forks a subshell (no exec) that forks a sleep
    const child = cg.spawn(['/bin/sh', '-c', '( sleep 300; true ) & wait']);
    await spawned(child);
    const shell = await waitFor('the shell', () => find((r) => r.key.tgid === child.pid));
    const sub = await waitFor('the subshell', () => find((r) => r.ppid === child.pid));
    const sleeper = await waitFor('the sleep', () => find((r) => r.ppid === sub.key.tgid && r.comm === 'sleep'));
    expect(sub.parentStartNs).toBe(shell.key.startNs);
    expect([sub.exeDev, sub.exeIno]).toEqual([shell.exeDev, shell.exeIno]);
    expect(host.describer.describe(sub).exe).toBe(host.describer.describe(shell).exe);
    expect(sub.cgroupId).toBe(cg.id);
    expect(sleeper.parentStartNs).toBe(sub.key.startNs);

    process.kill(sleeper.key.tgid, 'SIGKILL');
    await waitFor('the sleep to leave the table', () => !find((r) => r.key.tgid === sleeper.key.tgid) || undefined);
    expect(host.tracker.table.get(sleeper.key)).toBeUndefined();
    await exited(child);
    host.tracker.sync();
    expect(host.tracker.table.get(shell.key)).toBeUndefined();
    expect(host.tracker.table.get(sub.key)).toBeUndefined();
  });

  it('follows a process moved to another cgroup with no exec or fork', async () => {
    const child = spawn(SLEEP, ['300'], { stdio: 'ignore' });
    await spawned(child);
    const pid = child.pid as number;
    await waitFor('the sleep', () => find((r) => r.key.tgid === pid && r.comm === 'sleep'));
    writeFileSync(`${cg.path}/cgroup.procs`, String(pid)); // how the kernel is told to move a process
    const moved = await waitFor('the cgroup move', () => find((r) => r.key.tgid === pid && r.cgroupId === cg.id));
    expect(host.describer.describe(moved).cgroup).toBe(cg.relPath);
    child.kill('SIGKILL');
    await exited(child);
  });
});

describe('the executable digest', () => {
  it('is the sha256 of the file the process runs, and is refused once the process is gone', async () => {
    const { createHash } = await import('node:crypto');
    const host = hostTracker();
    host.tracker.start();
    const child = spawn(SLEEP, ['300'], { stdio: 'ignore' });
    try {
      await spawned(child);
      const rec = await waitFor('the sleep', () => {
        host.tracker.sync();
        const r = host.tracker.table.current(child.pid as number);
        return r?.comm === 'sleep' ? r : undefined;
      });
      const expected = createHash('sha256').update(readFileSync(SLEEP)).digest('hex');
      expect(await host.describer.sha256(rec)).toBe(expected);
      child.kill('SIGKILL');
      await exited(child);
      host.tracker.sync();
      await expect(host.describer.sha256(rec)).rejects.toMatchObject({ code: 'PROCESS_GONE' });
    } finally {
      child.kill('SIGKILL');
      host.tracker.stop();
    }
  });
});
