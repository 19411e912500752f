import { statSync } from 'node:fs';
import { devToKernel, type ProcessRecord } from '../attest/index.js';
import type { ExeKey, SockMaps } from '../kernel/index.js';
import type { Entry } from '../registry/index.js';
import type { SpiffeId } from '../spiffe/index.js';

/** tether_exe_key's uid for "any uid" (TETHER_ANY_UID). */
const ANY_UID = 0xffffffff;

export interface KernelIdentitySync {
  /** Executables the kernel now turns into identities at exec. */
  readonly executables: number;
  /** Processes already running that were given their identity now. */
  readonly seeded: number;
  /** Entries whose selectors the kernel cannot decide at exec (only unix:path and unix:uid can be). */
  readonly userSpaceOnly: readonly string[];
}

const keyString = (k: ExeKey): string => `${k.dev}:${k.ino}:${k.uid}`;

/**
 * Feeds the kernel's exec-time identities from the registry: an entry whose selectors are one
 * unix:path and at most one unix:uid becomes exe_identity[file, uid] → its identity number; the
 * processes already running such a file (older than the entry or the agent) are seeded into
 * proc_identity from the process table. Entries with other selectors stay user-space decisions.
 */
export class KernelIdentities {
  readonly #maps: Pick<SockMaps, 'executables' | 'identities'>;

  constructor(maps: Pick<SockMaps, 'executables' | 'identities'>) {
    this.#maps = maps;
  }

  sync(entries: readonly Entry[], numberOf: (id: SpiffeId) => number, processes: Iterable<ProcessRecord>): KernelIdentitySync {
    const wanted = new Map<string, { key: ExeKey; id: number }>();
    const userSpaceOnly: string[] = [];
    for (const e of entries) {
      const key = exeKeyOf(e);
      if (!key) { userSpaceOnly.push(e.spiffeId.toString()); continue; }
      if (!wanted.has(keyString(key))) wanted.set(keyString(key), { key, id: numberOf(e.spiffeId) }); // file order: the first entry wins
    }
    this.#maps.executables.updateMany([...wanted.values()].map((w) => [w.key, w.id] as const));
    this.#maps.executables.deleteMany([...this.#maps.executables.keys()].filter((k) => !wanted.has(keyString(k))));
    let seeded = 0;
    for (const r of processes) {
      if (r.exeDev === null || r.exeIno === null) continue;
      const hit = wanted.get(keyString({ dev: r.exeDev, ino: r.exeIno, uid: r.uid }))
        ?? wanted.get(keyString({ dev: r.exeDev, ino: r.exeIno, uid: ANY_UID }));
      if (!hit) continue;
      this.#maps.identities.update(r.key.tgid, { id: hit.id, coarse: r.key.coarse ? 1 : 0, startNs: r.key.startNs });
      seeded++;
    }
    return { executables: wanted.size, seeded, userSpaceOnly };
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
