import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { parseCgroupPath } from './container-id.js';
import { AttestError } from './errors.js';
import type { CgroupPaths } from './cgroup-paths.js';
import type { ExeDigests } from './exe-digest.js';
import { devToKernel, parseStat } from './proc-reader.js';
import type { ProcessRecord, ProcessTable } from './process-table.js';
import type { StartClock } from './start-clock.js';

/** One process as `tether ps` shows it: the table's record with its paths resolved. */
export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  /** Wall-clock start, ISO 8601 (boot time + start_boottime). */
  readonly startTime: string;
  /** task->start_boottime in ns: with pid, the process's identity. */
  readonly startNs: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly comm: string;
  readonly exe: string | null;
  readonly cgroup: string | null;
  readonly containerId: string | null;
  readonly podUid: string | null;
}

/**
 * Resolves what records leave lazy: the executable's canonical path (checked against the
 * record's dev/inode, so a pid reused since is never described with the new process's file)
 * and the cgroup path from its id.
 */
export class ProcessDescriber {
  readonly #table: ProcessTable;
  readonly #cgroups: CgroupPaths;
  readonly #digests: ExeDigests;
  readonly #bootMs: number;
  readonly #clock: StartClock;

  constructor(options: { table: ProcessTable; cgroups: CgroupPaths; digests: ExeDigests; bootTimeMs: number; clock: StartClock }) {
    this.#clock = options.clock;
    this.#table = options.table;
    this.#cgroups = options.cgroups;
    this.#digests = options.digests;
    this.#bootMs = options.bootTimeMs;
  }

  /**
   * SHA-256 of the file the process runs, read through /proc/<pid>/exe (the very inode, even if
   * renamed), cached per file identity. Refused when the process is no longer the record's or
   * its pid now runs another file: a digest is only ever of this process's executable.
   */
  async sha256(record: ProcessRecord): Promise<string> {
    const gone = (): AttestError => new AttestError('PROCESS_GONE', `process ${record.key.tgid} is no longer the one asked about`);
    if (record.exeIno === null) throw new AttestError('ATTESTATION_FAILED', `process ${record.key.tgid} has no executable (a kernel thread)`);
    if (!this.#table.get(record.key)) throw gone();
    const digest = await this.#digests.digest(`/proc/${record.key.tgid}/exe`);
    const now = this.#table.get(record.key);
    if (!now || now.exeIno !== record.exeIno || now.exeDev !== record.exeDev || !sameFile(now)) throw gone();
    return digest;
  }

  describe(record: ProcessRecord): ProcessInfo {
    const r = this.#withExe(record);
    const cgroup = r.cgroupPath ?? (r.cgroupId === null ? null : this.#cgroups.pathOf(r.cgroupId) ?? liveCgroup(r, this.#clock));
    const { containerId, podUid } = cgroup === null ? { containerId: null, podUid: null } : parseCgroupPath(cgroup);
    return {
      pid: r.key.tgid, ppid: r.ppid, startNs: r.key.startNs,
      startTime: new Date(this.#bootMs + Number(r.key.startNs / 1_000_000n)).toISOString(),
      uid: r.uid, gid: r.gid, comm: r.comm, exe: r.exe ?? fallbackExe(r), cgroup, containerId, podUid,
    };
  }

  all(): ProcessInfo[] {
    return [...this.#table.values()].map((r) => this.describe(r)).sort((a, b) => a.pid - b.pid);
  }

  /** Reads /proc/<pid>/exe once; keeps the path in the table when it is the record's file. */
  #withExe(r: ProcessRecord): ProcessRecord {
    if (r.exe !== null || r.exeIno === null) return r;
    try {
      const exe = readlinkSync(`/proc/${r.key.tgid}/exe`);
      if (!sameFile(r)) return r;
      const resolved = { ...r, exe };
      this.#table.replace(resolved);
      return resolved;
    } catch {
      return r; // gone, or not ours to read: the exec filename below is the best left
    }
  }
}

/** /proc/<pid>/exe is still the record's file (the table can lag the kernel by a batch). */
function sameFile(r: ProcessRecord): boolean {
  try {
    const st = statSync(`/proc/${r.key.tgid}/exe`, { bigint: true });
    return st.ino === r.exeIno && devToKernel(st.dev) === r.exeDev;
  } catch {
    return false;
  }
}

/** What execve() was given, when it is absolute: better than nothing for a process already gone. */
function fallbackExe(r: ProcessRecord): string | null {
  return r.execFilename?.startsWith('/') ? r.execFilename : null;
}

/** A cgroup too new for the id→path cache, read from /proc; kept only if the pid is still the
 * record's process after the read (same start tick), so a reused pid never lends its cgroup. */
function liveCgroup(r: ProcessRecord, clock: StartClock): string | null {
  try {
    const line = readFileSync(`/proc/${r.key.tgid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    const ticks = parseStat(readFileSync(`/proc/${r.key.tgid}/stat`, 'utf8')).startTicks;
    if (ticks !== clock.ticks(r.key.startNs)) return null;
    return line === undefined ? null : line.slice(3);
  } catch {
    return null;
  }
}

/** Boot time in ms since the epoch, from /proc/stat's btime (whole seconds). */
export function bootTimeMs(procStat: string = readFileSync('/proc/stat', 'utf8')): number {
  const m = /^btime (\d+)$/m.exec(procStat);
  if (!m?.[1]) throw new AttestError('PROC_PARSE', '/proc/stat has no btime line');
  return Number(m[1]) * 1000;
}
