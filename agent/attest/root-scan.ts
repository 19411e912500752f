import { lstatSync, readdirSync, statSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/**
 * What a walk of one root filesystem found: how many executable files, and where the first file
 * of each name that could be run (an executable regular file, or a symlink) is. `complete` is
 * false when the walk ran out of time: its counts are then lower bounds, never a pass.
 */
export interface RootScan {
  /** Regular files with any execute bit. */
  readonly executables: number;
  /** Name → the first path (from the root, "/bin/sh") of an executable file or symlink so named. */
  readonly names: ReadonlyMap<string, string>;
  /** Directory entries looked at. */
  readonly entries: number;
  readonly complete: boolean;
  readonly elapsedMs: number;
  /** The time bound it had: a scan that ran out reports "scan exceeded <limit> ms". */
  readonly limitMs: number;
  /** Why the root could not be read at all (undefined when it could). */
  readonly error?: string;
}

export interface RootScanOptions {
  /** The walk stops after this long, incomplete; default 2000 ms. */
  readonly limitMs?: number;
  /** It yields to the event loop after this much synchronous work; default 10 ms. */
  readonly sliceMs?: number;
  /** Monotonic ms; default performance.now. */
  readonly now?: () => number;
}

export const DEFAULT_SCAN_LIMIT_MS = 2000;
const CHECK_EVERY = 128;

/**
 * Walks the tree under `root` (usually /proc/<pid>/root) without leaving its filesystem (find's
 * -xdev: /proc, /sys, /dev and other mounts are not the image), in synchronous slices of
 * `sliceMs` between which the event loop runs, until done or `limitMs` has passed.
 */
export async function scanRoot(root: string, options: RootScanOptions = {}): Promise<RootScan> {
  const now = options.now ?? (() => performance.now());
  const limitMs = options.limitMs ?? DEFAULT_SCAN_LIMIT_MS;
  const sliceMs = options.sliceMs ?? 10;
  const began = now();
  let rootDev: number;
  try {
    rootDev = statSync(root).dev;
  } catch (err) {
    return { executables: 0, names: new Map(), entries: 0, complete: false, elapsedMs: now() - began, limitMs, error: (err as Error).message };
  }
  const walk = new Walk(root, rootDev);
  let sliceStart = now();
  while (!walk.done()) {
    walk.step();
    if (walk.entries % CHECK_EVERY !== 0 && !walk.betweenDirectories) continue;
    const t = now();
    if (t - began > limitMs) return walk.result(false, t - began, limitMs);
    if (t - sliceStart > sliceMs) {
      await yieldToLoop();
      sliceStart = now();
    }
  }
  return walk.result(true, now() - began, limitMs);
}

/**
 * One directory at a time, breadth first (the shallow /bin, /usr/bin, /sbin are read before the
 * deep trees, so a shell is found early in a large root); an unreadable directory (vanished,
 * EACCES) is skipped.
 */
class Walk {
  entries = 0;
  executables = 0;
  betweenDirectories = false;
  readonly #names = new Map<string, string>();
  readonly #dirs: string[] = [''];
  #nextDir = 0;
  readonly #root: string;
  readonly #dev: number;
  #pending: Array<{ readonly dir: string; readonly name: string; readonly kind: 'file' | 'link' | 'dir' }> = [];

  constructor(root: string, dev: number) {
    this.#root = root;
    this.#dev = dev;
  }

  done(): boolean {
    return this.#pending.length === 0 && this.#nextDir >= this.#dirs.length;
  }

  /** Looks at one entry, or reads the next directory when none is pending. */
  step(): void {
    const next = this.#pending.pop();
    this.betweenDirectories = next === undefined;
    if (next === undefined) {
      this.#read(this.#dirs[this.#nextDir] ?? '');
      this.#dirs[this.#nextDir] = ''; // read: let the string go
      this.#nextDir += 1;
      return;
    }
    this.entries += 1;
    const rel = `${next.dir}/${next.name}`;
    if (next.kind === 'link') {
      this.#name(next.name, rel);
      return;
    }
    try {
      const st = lstatSync(this.#root + rel);
      if (next.kind === 'dir') {
        if (st.dev === this.#dev) this.#dirs.push(rel);
      } else if ((st.mode & 0o111) !== 0) {
        this.executables += 1;
        this.#name(next.name, rel);
      }
    } catch {
      // removed while we walked: it is not there
    }
  }

  result(complete: boolean, elapsedMs: number, limitMs: number): RootScan {
    return { executables: this.executables, names: this.#names, entries: this.entries, complete, elapsedMs, limitMs };
  }

  #name(name: string, rel: string): void {
    if (!this.#names.has(name)) this.#names.set(name, rel);
  }

  #read(dir: string): void {
    let list;
    try {
      list = readdirSync(this.#root + (dir === '' ? '/' : dir), { withFileTypes: true });
    } catch {
      return;
    }
    const pending = [];
    for (const d of list) {
      if (d.isDirectory()) pending.push({ dir, name: d.name, kind: 'dir' as const });
      else if (d.isFile()) pending.push({ dir, name: d.name, kind: 'file' as const });
      else if (d.isSymbolicLink()) pending.push({ dir, name: d.name, kind: 'link' as const });
    }
    this.#pending = pending;
  }
}

export interface RootScansOptions extends RootScanOptions {
  /** A scan is reused for this long (a root's contents may change); default 5 minutes. */
  readonly maxAgeMs?: number;
  /** Most roots remembered; the oldest goes first. Default 256. */
  readonly maxRoots?: number;
}

export interface RootScanStats {
  readonly scans: number;
  readonly hits: number;
  readonly roots: number;
}

/**
 * Scans cached per root: the key is the mount namespace's inode with the root directory's dev and
 * inode, so every process of one container image (or one chroot) shares one scan, while another
 * namespace with the same path is another root. Concurrent asks for one root share one walk; a
 * walk that ran out of time is cached as well (a second 2 s walk would find no more).
 */
export class RootScans {
  readonly #options: RootScansOptions;
  readonly #maxAgeMs: number;
  readonly #maxRoots: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { readonly at: number; readonly scan: Promise<RootScan> }>();
  #scans = 0;
  #hits = 0;

  constructor(options: RootScansOptions = {}) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#maxAgeMs = options.maxAgeMs ?? 300_000;
    this.#maxRoots = options.maxRoots ?? 256;
  }

  /** The scan of the root at `path` (which `key` identifies), from the cache while it is fresh. */
  scan(key: string, path: string): Promise<RootScan> {
    const cached = this.#cache.get(key);
    if (cached !== undefined && this.#now() - cached.at <= this.#maxAgeMs) {
      this.#hits += 1;
      return cached.scan;
    }
    this.#scans += 1;
    const scan = scanRoot(path, this.#options);
    this.#cache.delete(key);
    this.#cache.set(key, { at: this.#now(), scan });
    while (this.#cache.size > this.#maxRoots) {
      const oldest = this.#cache.keys().next();
      if (oldest.done === true) break;
      this.#cache.delete(oldest.value);
    }
    return scan;
  }

  stats(): RootScanStats {
    return { scans: this.#scans, hits: this.#hits, roots: this.#cache.size };
  }
}
