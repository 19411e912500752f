import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AttestError } from './errors.js';

export interface CgroupPathsOptions {
  /** The cgroup v2 mount, found in /proc/self/mounts (here /sys/fs/cgroup/unified). */
  mountPoint: string;
  /** Least time between two walks of the tree for ids we do not know. */
  rescanIntervalMs?: number;
  /** Milliseconds; tests pass a fake clock. */
  now?: () => number;
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Maps a cgroup v2 id (what bpf_get_current_cgroup_id returns: the inode number of
 * the cgroup's directory, 64-bit and never reused within a boot) to its path below
 * the mount: "/" for the root, "/a/b" below it.
 */
export class CgroupPaths {
  readonly #mount: string;
  readonly #interval: number;
  readonly #now: () => number;
  #paths = new Map<bigint, string>();
  #lastScan: number | null = null;
  #scans = 0;

  constructor(options: CgroupPathsOptions) {
    this.#mount = options.mountPoint;
    this.#interval = options.rescanIntervalMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** The cgroup's path, or null when no walk (at most one per interval) has seen it. */
  pathOf(id: bigint): string | null {
    const known = this.#paths.get(id);
    if (known !== undefined) return known;
    // An unknown id is usually a cgroup made since the last walk. A storm of them
    // (ids of cgroups already removed, or made up) costs one walk per interval.
    const now = this.#now();
    if (this.#lastScan !== null && now - this.#lastScan < this.#interval) return null;
    this.#lastScan = now;
    this.#paths = this.#walk();
    return this.#paths.get(id) ?? null;
  }

  /** How many times the tree was walked: lets tests and metrics see the rate limit work. */
  scans(): number {
    return this.#scans;
  }

  // A fresh map each walk, so removed cgroups leave it and memory follows the live tree.
  #walk(): Map<bigint, string> {
    this.#scans += 1;
    const paths = new Map<bigint, string>();
    let rootIno: bigint;
    try {
      rootIno = statSync(this.#mount, { bigint: true }).ino;
    } catch (e) {
      throw new AttestError('CGROUP_NOT_FOUND', `cgroup v2 mount ${this.#mount} is unreadable`, { cause: e });
    }
    paths.set(rootIno, '/');
    const stack: string[] = [''];
    for (let rel = stack.pop(); rel !== undefined; rel = stack.pop()) {
      for (const name of this.#children(rel)) {
        const child = `${rel}/${name}`;
        const ino = this.#inode(child);
        if (ino === null) continue;
        paths.set(ino, child);
        stack.push(child);
      }
    }
    return paths;
  }

  #children(rel: string): string[] {
    try {
      return readdirSync(join(this.#mount, rel), { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return []; // removed while we walked
      throw new AttestError('ATTESTATION_FAILED', `cannot list cgroup ${rel || '/'}`, { cause: e });
    }
  }

  #inode(rel: string): bigint | null {
    try {
      return statSync(join(this.#mount, rel), { bigint: true }).ino;
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return null;
      throw new AttestError('ATTESTATION_FAILED', `cannot stat cgroup ${rel}`, { cause: e });
    }
  }
}
