import { bootTimeNs, findCgroupV2Mount } from '../kernel/index.js';
import { CgroupPaths } from './cgroup-paths.js';
import { ExeDigests } from './exe-digest.js';
import { ProcReader } from './proc-reader.js';
import { ProcessDescriber, bootTimeMs } from './process-info.js';
import { ProcessTracker, type ProcessTrackerOptions } from './process-tracker.js';
import { StartClock, detectTicksPerSecond } from './start-clock.js';

export interface HostTracker {
  readonly tracker: ProcessTracker;
  readonly describer: ProcessDescriber;
}

/** The tracker of this host's processes, wired to the real kernel, /proc and cgroup tree. Not started. */
export function hostTracker(options: Pick<ProcessTrackerOptions, 'openEvents' | 'onResync'> = {}): HostTracker {
  const clock = new StartClock(detectTicksPerSecond());
  const tracker = new ProcessTracker({ reader: new ProcReader(), clock, bootNs: bootTimeNs, ...options });
  const cgroups = new CgroupPaths({ mountPoint: findCgroupV2Mount() });
  const describer = new ProcessDescriber({ table: tracker.table, cgroups, digests: new ExeDigests(), bootTimeMs: bootTimeMs(), clock });
  return { tracker, describer };
}
