/**
 * A Map that keeps at most `maxEntries` entries, dropping the least recently used one first:
 * for what a replica remembers per tenant or per key, so memory stays bounded however many
 * tenants call it. `maxEntries` 0 keeps nothing.
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();

  /** `onEvict` hears of each entry dropped to make room (not of `delete` or `clear`). */
  constructor(
    readonly maxEntries: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  set(key: K, value: V): this {
    this.entries.delete(key);
    if (this.maxEntries <= 0) return this;
    this.entries.set(key, value);
    while (this.entries.size > this.maxEntries) {
      const [oldestKey, oldestValue] = this.entries.entries().next().value!;
      this.entries.delete(oldestKey);
      this.onEvict?.(oldestKey, oldestValue);
    }
    return this;
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
