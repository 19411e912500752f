/**
 * attest/: which process is which, learned from the kernel (exec/fork/exit events) and /proc,
 * never from the caller. A process is a ProcessKey (tgid + start time), never a bare pid; the
 * tracker keeps the table exact and rebuilds it from /proc when the kernel reports lost events.
 * Reads /proc and the cgroup tree itself; everything from the kernel comes through kernel/.
 * Posture (posture.ts): a process's status flags, its executable's immutability and its root
 * filesystem's contents, judged against an entry's requirements; root scans are bounded in time
 * (an incomplete one never passes) and cached per (mount namespace, root inode).
 * May import: kernel/.
 */
export { AttestError, type AttestErrorCode } from './errors.js';
export { ProcessTable, type ProcessKey, type ProcessRecord } from './process-table.js';
export { StartClock, detectTicksPerSecond } from './start-clock.js';
export { ProcessTracker, type ProcessTrackerOptions, type ProcEvents, type ProcessStarts, type TrackerStats } from './process-tracker.js';
export { ProcessDescriber, bootTimeMs, type ProcessInfo } from './process-info.js';
export { hostTracker, type HostTracker } from './host-tracker.js';
export { ProcReader, parseStat, devToKernel, type ProcSnapshot } from './proc-reader.js';
export { CgroupPaths } from './cgroup-paths.js';
export { parseCgroupPath } from './container-id.js';
export { ExeDigests } from './exe-digest.js';
export { SelectorSource, type SelectorQuery, type SelectorSourceOptions } from './selectors.js';
export {
  PostureChecker, type PostureCheck, type PostureCheckerOptions, type PostureRequirements, type PostureVerdict,
} from './posture.js';
export { RootScans, scanRoot, DEFAULT_SCAN_LIMIT_MS, type RootScan, type RootScanOptions, type RootScansOptions } from './root-scan.js';
