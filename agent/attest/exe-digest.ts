import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { AttestError } from './errors.js';

export interface ExeDigestsOptions {
  /** Most digests kept; the least recently used goes first. */
  maxEntries?: number;
}

export interface ExeDigestStats {
  /** Answered from the cache without reading the file. */
  hits: number;
  /** Files read and hashed. */
  misses: number;
  /** Answered by joining a hash already under way for the same file. */
  shared: number;
  entries: number;
}

const CHUNK = 1 << 20;

// The file's identity: a new inode, or any write to it, gives a new key. ctime is in
// the key as well as mtime because utimes(2) can set mtime back, and nothing can ctime.
function identity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function wrap(e: unknown, path: string): AttestError {
  if (e instanceof AttestError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  // Through /proc/<pid>/exe, ENOENT and ESRCH mean the process has exited.
  if (code === 'ENOENT' || code === 'ESRCH') {
    return new AttestError('PROCESS_GONE', `${path} is gone`, { cause: e });
  }
  return new AttestError('ATTESTATION_FAILED', `cannot hash ${path}`, { cause: e });
}

async function hashHandle(fh: FileHandle): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let pos = 0; ; ) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
    if (bytesRead === 0) return hash.digest('hex');
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

/**
 * SHA-256 of executables, computed once per file identity. Hashing a 100 MB binary
 * takes a while; the same binary serves many processes, so each is read once.
 */
export class ExeDigests {
  readonly #max: number;
  // Map keeps insertion order: a hit re-inserts, so the first key is the least recent.
  readonly #cache = new Map<string, string>();
  readonly #inFlight = new Map<string, Promise<string>>();
  #hits = 0;
  #misses = 0;
  #shared = 0;

  constructor(options: ExeDigestsOptions = {}) {
    this.#max = options.maxEntries ?? 4096;
  }

  /**
   * sha256 (hex) of the file at `path`, usually /proc/<pid>/exe: opening that opens
   * the exact file the process runs, even if it was renamed or replaced since.
   */
  async digest(path: string): Promise<string> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw wrap(e, path);
    }
    try {
      // fstat of the open fd: the identity of what we read, not of what the name points at now.
      const key = identity(await fh.stat({ bigint: true }));
      const cached = this.#cache.get(key);
      if (cached !== undefined) {
        this.#hits += 1;
        this.#touch(key, cached);
        return cached;
      }
      const running = this.#inFlight.get(key);
      if (running !== undefined) {
        this.#shared += 1;
        return await running;
      }
      this.#misses += 1;
      const hashing = this.#hash(fh, key, path);
      this.#inFlight.set(key, hashing);
      try {
        return await hashing;
      } finally {
        this.#inFlight.delete(key);
      }
    } catch (e) {
      throw wrap(e, path);
    } finally {
      await fh.close();
    }
  }

  stats(): ExeDigestStats {
    return { hits: this.#hits, misses: this.#misses, shared: this.#shared, entries: this.#cache.size };
  }

  async #hash(fh: FileHandle, key: string, path: string): Promise<string> {
    const digest = await hashHandle(fh);
    // A file written while we read it gives a digest of neither version: refuse it
    // rather than cache it. (A running executable is normally write-protected.)
    if (identity(await fh.stat({ bigint: true })) !== key) {
      throw new AttestError('ATTESTATION_FAILED', `${path} changed while it was hashed`);
    }
    this.#touch(key, digest);
    return digest;
  }

  #touch(key: string, digest: string): void {
    this.#cache.delete(key);
    this.#cache.set(key, digest);
    while (this.#cache.size > this.#max) {
      const oldest = this.#cache.keys().next();
      if (oldest.done === true) break;
      this.#cache.delete(oldest.value);
    }
  }
}
