import { statSync } from 'node:fs';
import { join } from 'node:path';
import { devToKernel, type ProcessRecord } from '../attest/index.js';
import type { ExeKey, SockMaps } from '../kernel/index.js';
import type { Entry } from '../registry/index.js';
import type { SpiffeId } from '../spiffe/index.js';

/** tether_exe_key's uid for "any uid" (TETHER_ANY_UID). */
const ANY_UID = 0xffffffff;

export interface KernelIdentitySync {
  /** Executables and cgroups the kernel now turns into identities at exec. */
  readonly executables: number;
  readonly cgroups: number;
  /** Processes already running that were given their identity now. */
  readonly seeded: number;
  /** Entries whose selectors the kernel cannot decide at exec. */
  readonly userSpaceOnly: readonly string[];
}

type Maps = Pick<SockMaps, 'executables' | 'cgroups' | 'identities'>;

const keyString = (k: ExeKey): string => `${k.dev}:${k.ino}:${k.uid}`;

/**
 * Feeds the kernel's exec-time identities from the registry. What the exec tracepoint can decide:
 * - one unix:path and at most one unix:uid → exe_identity[file, uid];
 * - one cgroup:path alone → cgroup_identity[cgroup id], for a program whose file no entry names.
 * The processes already running (older than the entry or the agent) are seeded into proc_identity
 * from the process table. Entries with other selectors stay user-space decisions
 * (UserSpaceIdentities). When two entries name one file or cgroup, the first in the file wins.
 */
export class KernelIdentities {
  readonly #maps: Maps;
  readonly #cgroupMount: string;
  #exes = new Map<string, { key: ExeKey; id: number }>();
  #cgroups = new Map<bigint, number>();

  constructor(maps: Maps, options: { cgroupMount: string }) {
    this.#maps = maps;
    this.#cgroupMount = options.cgroupMount;
  }

  sync(entries: readonly Entry[], numberOf: (id: SpiffeId) => number, processes: Iterable<ProcessRecord>): KernelIdentitySync {
    const exes = new Map<string, { key: ExeKey; id: number }>();
    const cgroups = new Map<bigint, number>();
    const userSpaceOnly: string[] = [];
    for (const e of entries) {
      const exe = exeKeyOf(e);
      const cgroup = exe === undefined ? this.#cgroupIdOf(e) : undefined;
      if (exe !== undefined) {
        if (!exes.has(keyString(exe))) exes.set(keyString(exe), { key: exe, id: numberOf(e.spiffeId) });
      } else if (cgroup !== undefined) {
        if (!cgroups.has(cgroup)) cgroups.set(cgroup, numberOf(e.spiffeId));
      } else {
        userSpaceOnly.push(e.spiffeId.toString());
      }
    }
    this.#maps.executables.updateMany([...exes.values()].map((w) => [w.key, w.id] as const));
    this.#maps.executables.deleteMany([...this.#maps.executables.keys()].filter((k) => !exes.has(keyString(k))));
    this.#maps.cgroups.updateMany([...cgroups]);
    this.#maps.cgroups.deleteMany([...this.#maps.cgroups.keys()].filter((k) => !cgroups.has(k)));
    this.#exes = exes;
    this.#cgroups = cgroups;
    let seeded = 0;
    for (const r of processes) {
      const id = this.identityAtExec(r);
      if (id === undefined) continue;
      this.#maps.identities.update(r.key.tgid, { id, coarse: r.key.coarse ? 1 : 0, startNs: r.key.startNs });
      seeded++;
    }
    return { executables: exes.size, cgroups: cgroups.size, seeded, userSpaceOnly };
  }

  /** The identity the kernel gives this process's program at exec, as of the last sync. */
  identityAtExec(r: ProcessRecord): number | undefined {
    if (r.exeDev !== null && r.exeIno !== null) {
      const hit = this.#exes.get(keyString({ dev: r.exeDev, ino: r.exeIno, uid: r.uid }))
        ?? this.#exes.get(keyString({ dev: r.exeDev, ino: r.exeIno, uid: ANY_UID }));
      if (hit !== undefined) return hit.id;
    }
    if (this.#cgroups.size === 0) return undefined;
    const cgroup = r.cgroupId ?? (r.cgroupPath === null ? null : this.#inode(r.cgroupPath));
    return cgroup === null ? undefined : this.#cgroups.get(cgroup);
  }

  /** The cgroup id of an entry that is exactly one cgroup:path (a directory that exists now). */
  #cgroupIdOf(e: Entry): bigint | undefined {
    const [only] = e.selectors;
    if (e.selectors.length !== 1 || only === undefined || !only.startsWith('cgroup:path:')) return undefined;
    return this.#inode(only.slice('cgroup:path:'.length)) ?? undefined;
  }

  #inode(path: string): bigint | null {
    try {
      return statSync(join(this.#cgroupMount, path), { bigint: true }).ino;
    } catch {
      return null; // no such cgroup now: nothing starts in it
    }
  }
}

/** The exec-time key of an entry, when its selectors are exactly one unix:path and at most one unix:uid. */
function exeKeyOf(e: Entry): ExeKey | undefined {
  const paths = e.selectors.filter((s) => s.startsWith('unix:path:'));
  const uids = e.selectors.filter((s) => s.startsWith('unix:uid:'));
  if (paths.length !== 1 || uids.length > 1 || paths.length + uids.length !== e.selectors.length) return undefined;
  try {
    const st = statSync((paths[0] as string).slice('unix:path:'.length), { bigint: true });
    return { ino: st.ino, dev: devToKernel(st.dev), uid: uids[0] === undefined ? ANY_UID : Number(uids[0].slice('unix:uid:'.length)) };
  } catch {
    return undefined; // no such file now: nothing can exec it
  }
}
