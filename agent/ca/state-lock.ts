import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CaError } from './errors.js';

/**
 * One writer per CA state: `<stateDir>/ca.lock` holds the writer's pid and start time (clock
 * ticks, /proc/<pid>/stat field 22), so a lock left by a killed agent is told apart from a live
 * one even after its pid is reused. `tether ca rotate` run beside a running agent is refused
 * instead of forking the state. Re-entry from the same process is allowed (tests reopen).
 */
export class StateLock {
  readonly path: string;
  #held = false;

  private constructor(path: string) {
    this.path = path;
  }

  static acquire(stateDir: string): StateLock {
    const lock = new StateLock(join(stateDir, 'ca.lock'));
    const me = `${process.pid} ${startTicks(process.pid)}\n`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lock.path, 'wx', 0o600);
        try { writeSync(fd, me); } finally { closeSync(fd); }
        lock.#held = true;
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new CaError('STATE_IO', `cannot create ${lock.path}`, { cause: err, path: lock.path });
        }
      }
      const holder = readFileSync(lock.path, 'utf8');
      const [pid, ticks] = holder.trim().split(' ').map(Number);
      if (pid === process.pid) return lock; // this process already holds it
      if (pid !== undefined && ticks !== undefined && startTicks(pid) === ticks) {
        throw new CaError('LOCKED', `the CA state in ${stateDir} is in use by process ${pid} (a running agent): stop it first`, { path: lock.path });
      }
      unlinkSync(lock.path); // left by a process that is gone
    }
    throw new CaError('LOCKED', `cannot take ${lock.path}: another process keeps creating it`, { path: lock.path });
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try { unlinkSync(this.path); } catch { /* already gone: nothing to release */ }
  }
}

/** A process's start time in clock ticks, or undefined when it does not exist. */
function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}
