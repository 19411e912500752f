import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker, type ProcessRecord } from '../../agent/attest/index.js';
import { exited, spawned, waitFor } from '../support/wait.js';

// The kernel hands out a chosen pid when /proc/sys/kernel/ns_last_pid (root pid namespace) is
// set to one less: BPF and /proc see root-namespace pids, so that is the namespace to use.
const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';

async function spawnWithPid(pid: number, argv: [string, ...string[]]): Promise<ChildProcess | undefined> {
  writeFileSync(NS_LAST_PID, String(pid - 1));
  const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
  await spawned(child);
  if (child.pid === pid) return child;
  child.kill('SIGKILL'); // another process took the pid first: the caller tries again
  await exited(child);
  return undefined;
}

describe('pid reuse', () => {
  let host: HostTracker;

  beforeAll(() => {
    host = hostTracker();
    host.tracker.start();
  });
  afterAll(() => host.tracker.stop());

  const current = (pid: number, comm: string): ProcessRecord | undefined => {
    host.tracker.sync();
    const r = host.tracker.table.current(pid);
    return r?.comm === comm ? r : undefined;
  };

  it('makes a new process with a recycled pid a different record', async () => {
    const maxPid = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    for (let attempt = 0; attempt < 10; attempt++) {
      const pid = 20_000 + Math.floor(Math.random() * (maxPid - 40_000));
      const first = await spawnWithPid(pid, [realpathSync('/bin/sleep'), '300']);
      if (!first) continue;
      const a = await waitFor('the first process', () => current(pid, 'sleep'));
      first.kill('SIGKILL');
      await exited(first);
      host.tracker.sync();
      expect(host.tracker.table.get(a.key)).toBeUndefined();

      const second = await spawnWithPid(pid, [realpathSync('/usr/bin/tail'), '-f', '/dev/null']);
      if (!second) continue;
      try {
        const b = await waitFor('the second process', () => current(pid, 'tail'));
        expect(b.key.tgid).toBe(a.key.tgid);
        expect(b.key.startNs).not.toBe(a.key.startNs);
        expect(host.tracker.table.get(a.key)).toBeUndefined(); // the first process's key names nobody now
        expect(host.tracker.table.get(b.key)).toBe(b);
        expect(host.describer.describe(b).exe).toBe(realpathSync('/usr/bin/tail'));
        expect([b.exeDev, b.exeIno]).not.toEqual([a.exeDev, a.exeIno]);
      } finally {
        second.kill('SIGKILL');
        await exited(second);
      }
      return;
    }
    throw new Error('could not get the same pid twice in 10 attempts');
  });
});
