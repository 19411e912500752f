/**
 * profile/: behaviour per identity. Each identity's profile (a YAML file in profiles.dir: the
 * executables its processes exec by file identity, where they connect, the ports they listen on)
 * is learned from the kernel's events and tables for a window, then monitored (each deviation an
 * event with the process, its lineage and what deviated) or enforced: the kernel kills an exec
 * outside the allow-list before the program runs and quarantines its parent, and refuses a
 * connect outside the profile and quarantines its caller (a quarantined process's connects are
 * refused; the Workload API issues it nothing and ends its streams). Everything acts only inside the
 * enforcement cgroup (bpf/lib/sock_profile.h checks the task's cgroup ancestry).
 * Invariants: a profile file with errors is refused whole and its last good version stays; the
 * kernel's `quarantined` map is the one list of quarantined processes.
 * May import: kernel/, attest/, enforce/ (and registry/, spiffe/ through them).
 */
export { ProfileError, type ProfileErrorCode } from './errors.js';
export {
  formatDestination, formatDev, formatProfile, parseProfile,
  type Profile, type ProfileDestination, type ProfileExecutable, type ProfileModeName,
} from './profile-file.js';
export { ProfileStore, profileFileName, type ProfileLog, type ProfileStoreOptions } from './profile-store.js';
export { syncProfiles, type ProfileKernelMaps } from './profile-kernel.js';
export { QuarantineSet, type QuarantinedProcess, type QuarantineSetOptions } from './quarantine-set.js';
export { describeWhat, type Deviation, type DeviationWhat, type LineageStep } from './deviation.js';
export { Profiler, type ProcessLookup, type ProfilerOptions } from './profiler.js';
