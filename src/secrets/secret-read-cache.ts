import { BoundedMap } from "../bounded-map.js";
import type { SecretRow, VersionRow } from "./secrets-store.js";

/** The channel the `secrets_changed` triggers notify (migration 0004), with the secret id as payload. */
export const secretChangeChannel = "scaivault_secret_changed";

/** What the read path keeps of a secret: its row and the version rows read so far. Values stay encrypted. */
export interface CachedSecret {
  secret: SecretRow;
  versions: Map<number, VersionRow>;
  /** The secret row's stamp when it was read (secrets-store.ts `findSecretStamped`), for reads that check it. */
  stamp?: string;
  /** Each cached version row's stamp. */
  versionStamps?: Map<number, string>;
}

/**
 * An in-memory cache of ciphertext rows for the read path. Correctness rests on invalidation:
 * this replica's own writes drop entries after commit, and every replica drops entries on the
 * `scaivault_secret_changed` notice (a database trigger sends it for any change). A read that
 * started before an invalidation does not store what it read (the generation check), so a
 * stale row can never be put back after the change that outdated it. While notices are not
 * known to arrive (`coherent` false: the listening connection is down or silent) the cache is
 * bypassed, neither answering nor storing; the listener clears it when it is back.
 */
export interface SecretReadCache {
  /** The current generation; pass it back to `put` so a read older than an invalidation is not cached. */
  generation(): number;
  get(ownerId: string, path: string): CachedSecret | undefined;
  put(ownerId: string, path: string, entry: CachedSecret, generationAtRead: number): void;
  invalidateSecret(secretId: number): void;
  invalidatePath(ownerId: string, path: string): void;
  clear(): void;
  size(): number;
  /** Lookups since creation that found an entry (hits) or not (misses), and those that bypassed the cache, for the metrics. */
  stats(): { hits: number; misses: number; bypassed: number };
}

/**
 * Creates the cache with an entry bound (0: nothing is kept); the least recently used entry goes
 * first. `coherent` says whether change notices are known to arrive (default: always).
 */
export function createSecretReadCache(maxEntries = 10_000, coherent: () => boolean = () => true): SecretReadCache {
  const keyById = new Map<number, string>();
  const entries = new BoundedMap<string, CachedSecret>(maxEntries, (_key, evicted) => keyById.delete(evicted.secret.id));
  let generation = 0;
  let hits = 0;
  let misses = 0;
  let bypassed = 0;
  const keyOf = (ownerId: string, path: string) => `${ownerId}\0${path}`;
  const drop = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    keyById.delete(entry.secret.id);
  };
  return {
    generation: () => generation,
    get(ownerId, path) {
      if (!coherent()) {
        bypassed++;
        return undefined;
      }
      const key = keyOf(ownerId, path);
      const entry = entries.get(key);
      if (entry) hits++;
      else misses++;
      return entry;
    },
    put(ownerId, path, entry, generationAtRead) {
      if (generationAtRead !== generation || maxEntries === 0 || !coherent()) return;
      const key = keyOf(ownerId, path);
      drop(key);
      entries.set(key, entry);
      keyById.set(entry.secret.id, key);
    },
    invalidateSecret(secretId) {
      generation++;
      const key = keyById.get(secretId);
      if (key) drop(key);
    },
    invalidatePath(ownerId, path) {
      generation++;
      drop(keyOf(ownerId, path));
    },
    clear() {
      generation++;
      entries.clear();
      keyById.clear();
    },
    size: () => entries.size,
    stats: () => ({ hits, misses, bypassed }),
  };
}
