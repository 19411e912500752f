/**
 * A BPF hash map in memory, for the consumers of kernel/'s typed maps in unit tests (the kernel
 * tests use the real ones). Keys are compared by their JSON (bigints as text).
 */
export class FakeBpfMap<K, V> {
  readonly #m = new Map<string, [K, V]>();

  static key(k: unknown): string {
    return JSON.stringify(k, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  }

  lookup(k: K): V | undefined {
    return this.#m.get(FakeBpfMap.key(k))?.[1];
  }

  update(k: K, v: V): void {
    this.#m.set(FakeBpfMap.key(k), [k, v]);
  }

  delete(k: K): boolean {
    return this.#m.delete(FakeBpfMap.key(k));
  }

  take(k: K): V | undefined {
    const v = this.lookup(k);
    this.delete(k);
    return v;
  }

  *keys(): Generator<K> {
    for (const [k] of [...this.#m.values()]) yield k;
  }

  entries(): Array<[K, V]> {
    return [...this.#m.values()];
  }

  get size(): number {
    return this.#m.size;
  }
}
