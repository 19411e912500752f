import { AttestError } from './errors.js';
import type { ProcessDescriber } from './process-info.js';
import type { ProcessRecord, ProcessTable } from './process-table.js';
import { UserNames } from './user-names.js';

export interface SelectorSourceOptions {
  readonly describer: ProcessDescriber;
  readonly table: ProcessTable;
  /** Default: the host's /etc/passwd and /etc/group. */
  readonly users?: UserNames;
}

export interface SelectorQuery {
  /** Add unix:sha256 (reads the whole executable once per file): only when some entry uses it. */
  readonly sha256: boolean;
}

const DELETED = ' (deleted)';

/** Ancestors walked for lineage selectors; deeper trees are cut here. */
const MAX_LINEAGE_DEPTH = 64;

/**
 * A process's selectors, `type:key:value` in the one spelling registry/ parses entries into:
 * unix (uid, gid, user, group, path, sha256), cgroup:path, container:id, k8s:pod-uid, and
 * lineage:path for each ancestor's executable. Every one is the kernel's view (the table's
 * record, /proc/<pid>/exe checked against its inode, the cgroup id), never the caller's say-so.
 */
export class SelectorSource {
  readonly #describer: ProcessDescriber;
  readonly #table: ProcessTable;
  readonly #users: UserNames;

  constructor(options: SelectorSourceOptions) {
    this.#describer = options.describer;
    this.#table = options.table;
    this.#users = options.users ?? new UserNames();
  }

  /** Sorted, each once. Throws AttestError('PROCESS_GONE') when the record is no longer live. */
  async selectorsOf(record: ProcessRecord, options: SelectorQuery): Promise<string[]> {
    if (this.#table.get(record.key) === undefined) {
      throw new AttestError('PROCESS_GONE', `process ${record.key.tgid} is no longer the one asked about`);
    }
    const info = this.#describer.describe(record);
    const out = new Set<string>([`unix:uid:${record.uid}`, `unix:gid:${record.gid}`]);
    const user = this.#users.user(record.uid);
    if (user !== undefined) out.add(`unix:user:${user}`);
    const group = this.#users.group(record.gid);
    if (group !== undefined) out.add(`unix:group:${group}`);
    const exe = this.#resolvedExe(record);
    if (exe !== null) out.add(`unix:path:${exe}`);
    // A kernel thread runs no file: nothing to hash, and no entry should name one by digest.
    if (options.sha256 && record.exeIno !== null) out.add(`unix:sha256:${await this.#describer.sha256(record)}`);
    if (info.cgroup !== null) out.add(`cgroup:path:${info.cgroup}`);
    if (info.containerId !== null) out.add(`container:id:${info.containerId}`);
    if (info.podUid !== null) out.add(`k8s:pod-uid:${info.podUid}`);
    for (const ancestor of this.#ancestors(record)) {
      const path = this.#resolvedExe(ancestor);
      if (path !== null) out.add(`lineage:path:${path}`);
    }
    return [...out].sort();
  }

  /**
   * The executable's path read from /proc/<pid>/exe and checked against the record's inode
   * (describe() resolves it into the table), never the exec filename the process passed, which
   * may be relative or a symlink. Null for kernel threads, a file no longer readable or deleted.
   */
  #resolvedExe(record: ProcessRecord): string | null {
    if (record.exeIno === null) return null;
    this.#describer.describe(record);
    const exe = this.#table.get(record.key)?.exe ?? null;
    // d_path's mark of an unlinked file (replaced by an upgrade, or a memfd): the name is no
    // longer this file's, so it vouches for nothing.
    return exe === null || exe.endsWith(DELETED) ? null : exe;
  }

  /** Parent, grandparent, ... up to (not including) pid 1, which every process descends from. */
  #ancestors(record: ProcessRecord): ProcessRecord[] {
    const out: ProcessRecord[] = [];
    for (let child = record; out.length < MAX_LINEAGE_DEPTH && child.ppid > 1;) {
      const parent = this.#parentOf(child);
      if (parent === undefined) break;
      out.push(parent);
      child = parent;
    }
    return out;
  }

  /**
   * The exact parent when the record knows its start time; else whoever holds the ppid, if it
   * started no later than the child (a pid reused after the parent exited names a younger one).
   */
  #parentOf(child: ProcessRecord): ProcessRecord | undefined {
    const parent = child.parentStartNs === null
      ? this.#table.current(child.ppid)
      : this.#table.get({ tgid: child.ppid, startNs: child.parentStartNs });
    return parent !== undefined && parent.key.startNs <= child.key.startNs ? parent : undefined;
  }
}
