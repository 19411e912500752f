import { native } from './native.js';
import { KernelError, nativeCall } from './errors.js';
import type { Codec } from './codec.js';

export type UpdateFlag = 'any' | 'noexist' | 'exist';
const FLAGS = { any: 0, noexist: 1, exist: 2 } as const satisfies Record<UpdateFlag, number>;
const BATCH = 256;
/** count() copies up to this many entries per call and decodes none. */
const COUNT_BATCH = 4096;
type BatchResult = ReturnType<ReturnType<typeof native>['mapLookupBatch']>;
/** BPF_MAP_TYPE_PERCPU_HASH, _PERCPU_ARRAY, _LRU_PERCPU_HASH, _PERCPU_CGROUP_STORAGE: one value slot per CPU. */
const PER_CPU_TYPES = new Set([5, 6, 10, 21]);

/**
 * A BPF map with typed keys and values. A map from a loaded object borrows the object's fd
 * (the object closes it); a pinned map opened here owns its fd and closes it in close().
 */
export class BpfMap<K, V> {
  readonly name: string;
  readonly #fd: number;
  readonly #key: Codec<K>;
  readonly #value: Codec<V>;
  readonly #owned: boolean;
  #open = true;
  #batch: boolean | undefined;
  #maxEntries: number | undefined;

  constructor(options: { fd: number; name: string; key: Codec<K>; value: Codec<V>; owned: boolean }) {
    this.#fd = options.fd;
    this.name = options.name;
    this.#key = options.key;
    this.#value = options.value;
    this.#owned = options.owned;
  }

  /** A map pinned at `path`; its key and value sizes must be the codecs'. */
  static openPinned<K, V>(path: string, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
    const fd = nativeCall('MAP', `open pinned map ${path}`, () => native().objGet(path));
    const info = native().mapInfoByFd(fd);
    const valueBytes = PER_CPU_TYPES.has(info.type) ? Math.ceil(info.valueSize / 8) * 8 * native().possibleCpus() : info.valueSize;
    if (info.keySize !== key.size || valueBytes !== value.size) {
      native().closeFd(fd);
      throw new KernelError('MAP', `pinned map ${path}: key/value take ${info.keySize}/${valueBytes} bytes, the codecs ${key.size}/${value.size}`);
    }
    return new BpfMap({ fd, name: info.name, key, value, owned: true });
  }

  get fd(): number {
    this.#check('fd');
    return this.#fd;
  }

  lookup(key: K): V | undefined {
    const raw = this.#call('lookup', () => native().mapLookup(this.#fd, this.#key.encode(key), this.#value.size));
    return raw === null ? undefined : this.#value.decode(raw);
  }

  /** Reads and removes the entry in one call (hash maps): of several readers, one gets it. */
  take(key: K): V | undefined {
    const raw = this.#call('lookup and delete', () => native().mapLookupAndDelete(this.#fd, this.#key.encode(key), this.#value.size));
    return raw === null ? undefined : this.#value.decode(raw);
  }

  update(key: K, value: V, flag: UpdateFlag = 'any'): void {
    this.#call('update', () => native().mapUpdate(this.#fd, this.#key.encode(key), this.#value.encode(value), FLAGS[flag]));
  }

  /** False when the key was absent. */
  delete(key: K): boolean {
    return this.#call('delete', () => native().mapDelete(this.#fd, this.#key.encode(key)));
  }

  *keys(): Generator<K> {
    let raw: Buffer | null = null;
    for (;;) {
      const prev: Buffer | null = raw;
      raw = this.#call('next key', () => native().mapNextKey(this.#fd, prev, this.#key.size));
      if (raw === null) return;
      yield this.#key.decode(raw);
    }
  }

  /** Every entry: batch lookups where the kernel has them for this map type, else key by key. */
  entries(): Array<[K, V]> {
    return this.#batchOr(() => this.#batchEntries(), () => {
      const out: Array<[K, V]> = [];
      for (const k of this.keys()) {
        const v = this.lookup(k);
        if (v !== undefined) out.push([k, v]);
      }
      return out;
    });
  }

  /** Writes many entries in one batch call where the kernel has it, else one by one. */
  updateMany(entries: ReadonlyArray<readonly [K, V]>, flag: UpdateFlag = 'any'): void {
    if (entries.length === 0) return;
    const keys = Buffer.concat(entries.map(([k]) => this.#key.encode(k)));
    const values = Buffer.concat(entries.map(([, v]) => this.#value.encode(v)));
    this.#batchOr(
      () => this.#call('update batch', () => native().mapUpdateBatch(this.#fd, keys, values, entries.length, FLAGS[flag])),
      () => { for (const [k, v] of entries) this.update(k, v, flag); },
    );
  }

  /** Deletes many keys in one batch call where the kernel has it; returns how many were there. */
  deleteMany(keys: readonly K[]): number {
    if (keys.length === 0) return 0;
    // The kernel's batch delete stops at the first absent key: delete the rest one by one.
    const packed = Buffer.concat(keys.map((k) => this.#key.encode(k)));
    return this.#batchOr(() => {
      const n = this.#call('delete batch', () => native().mapDeleteBatch(this.#fd, packed, keys.length));
      return n + keys.slice(n + 1).filter((k) => this.delete(k)).length;
    }, () => keys.filter((k) => this.delete(k)).length);
  }

  /** The kernel's bound on the map (max_entries), asked once. */
  get maxEntries(): number {
    this.#maxEntries ??= this.#call('info', () => native().mapInfoByFd(this.#fd)).maxEntries;
    return this.#maxEntries;
  }

  /** How many entries the map holds now (at most maxEntries): batch lookups where the kernel has
   * them, nothing decoded, else key by key. Entries written during the walk may or may not count. */
  count(): number {
    return this.#batchOr(() => {
      let n = 0;
      let cursor: Buffer | null = null;
      for (;;) {
        const cur: Buffer | null = cursor;
        const r: BatchResult = this.#call('lookup batch', () => native().mapLookupBatch(this.#fd, this.#key.size, this.#value.size, cur, COUNT_BATCH));
        n += r.count;
        if (r.done) return n;
        cursor = r.cursor;
      }
    }, () => {
      let n = 0;
      for (const _ of this.keys()) n++;
      return n;
    });
  }

  /** Runs the batch form, falling back (and remembering to) where the map type has no batch ops. */
  #batchOr<T>(batch: () => T, single: () => T): T {
    if (this.#batch === false) return single();
    try {
      const out = batch();
      this.#batch = true;
      return out;
    } catch (err) {
      const code = err instanceof KernelError ? err.errno : undefined;
      if (this.#batch === true || (code !== 'EINVAL' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUPP')) throw err;
      this.#batch = false;
      return single();
    }
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#owned) native().closeFd(this.#fd);
  }

  #batchEntries(): Array<[K, V]> {
    const out: Array<[K, V]> = [];
    let cursor: Buffer | null = null;
    for (;;) {
      const cur: Buffer | null = cursor;
      const r: BatchResult = this.#call('lookup batch', () => native().mapLookupBatch(this.#fd, this.#key.size, this.#value.size, cur, BATCH));
      for (let i = 0; i < r.count; i++) {
        out.push([this.#key.decode(r.keys, i * this.#key.size), this.#value.decode(r.values, i * this.#value.size)]);
      }
      if (r.done) return out;
      cursor = r.cursor;
    }
  }

  #check(what: string): void {
    if (!this.#open) throw new KernelError('CLOSED', `map ${this.name}: ${what} after close`);
  }

  #call<T>(what: string, fn: () => T): T {
    this.#check(what);
    return nativeCall('MAP', `map ${this.name}: ${what}`, fn);
  }
}
