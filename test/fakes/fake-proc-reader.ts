import { ProcReader, type ProcSnapshot } from '../../agent/attest/proc-reader.js';

/**
 * /proc as a Map. A subclass rather than a plain object: ProcReader's #root makes the class
 * nominal to TypeScript, and ProcessTrackerOptions.reader is typed as the class. Nothing of the
 * real procfs is touched: both methods are overridden.
 */
export class FakeProcReader extends ProcReader {
  readonly procs = new Map<number, ProcSnapshot>();
  /** Pids listed but gone by the time they are read (read() gives null, as the real one does). */
  readonly vanishing = new Set<number>();
  scans = 0;

  constructor(snapshots: readonly ProcSnapshot[] = []) {
    super({ procRoot: '/nonexistent/fake-proc' });
    for (const s of snapshots) this.procs.set(s.tgid, s);
  }

  set(s: ProcSnapshot): void {
    this.procs.set(s.tgid, s);
  }

  override listPids(): number[] {
    this.scans++;
    return [...this.procs.keys(), ...this.vanishing];
  }

  override read(pid: number): ProcSnapshot | null {
    if (this.vanishing.has(pid)) return null;
    return this.procs.get(pid) ?? null;
  }
}

/** A process as /proc shows it; anything not given is an ordinary user process. */
export function snapshot(s: Partial<ProcSnapshot> & Pick<ProcSnapshot, 'tgid'>): ProcSnapshot {
  return {
    ppid: 1, startTicks: 1000n, uid: 1000, gid: 1000, comm: `p${s.tgid}`, state: 'S', exe: '/usr/bin/sleep',
    exeDev: (8 << 20) | 1, exeIno: 4242n, cgroupPath: '/user.slice', ...s,
  };
}
