import type { HostTracker, ProcessRecord } from '../../agent/attest/index.js';
import { waitFor } from './wait.js';

/** The tracker's record of `pid` once it has exec'd a program whose comm starts with `comm`
 * (its exact start time, from the exec event, is what the kernel's identity maps compare). */
export function execRecord(host: HostTracker, pid: number, comm = 'python'): Promise<ProcessRecord> {
  return waitFor(`the ${comm} exec of ${pid}`, () => {
    host.tracker.sync();
    const r = host.tracker.table.current(pid);
    return r?.comm.startsWith(comm) ? r : undefined;
  });
}
