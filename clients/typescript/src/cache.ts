import { ScaiVaultError } from "./errors.js";

/** The source of "now" for the cache; tests inject one that only moves when told to. */
export interface Clock {
  now(): Date;
}

/** How the read cache behaves; every field has a default. */
export interface SecretCacheOptions {
  /** How long a value is served without asking the service (default 5 minutes). */
  ttlMs?: number;
  /** A read within this long before a value's TTL ends refreshes it in the background (default a fifth of `ttlMs`; 0 turns it off). */
  refreshAheadMs?: number;
  /**
   * How long past its TTL a value may still be served while refreshing it fails with a transient
   * error (`unavailable`, `internal`, `rate_limited`, `deadline_exceeded`); default `ttlMs`, 0 never
   * serves a stale value. Definitive answers (`secret_not_found`, `access_denied`, ...) are never
   * papered over: they evict the value and are thrown.
   */
  maxStaleMs?: number;
  /** How many values are kept; the least recently read go first (default 1000). */
  maxEntries?: number;
  clock?: Clock;
  /** Told about every failed refresh, including background ones nobody awaits (for logs and metrics). */
  onRefreshError?: (error: ScaiVaultError, path: string) => void;
  /**
   * Keeps a watch stream open (`secrets.watch`, scope `secrets:read`) and drops a cached secret the
   * moment it changes, so a rotation is seen within about a second instead of after `ttlMs`.
   * `{ prefix }` watches only part of the tree. The TTL still applies as a safety net.
   */
  watch?: boolean | { prefix?: string };
}

/** What a client's cache lets its owner do besides reading through it. */
export interface SecretCache {
  /** Drops every cached version of the path; reads already in flight do not store their result. */
  invalidate(path: string): void;
  /** Drops everything. */
  clear(): void;
  /** How many values are cached. */
  readonly size: number;
  /** With `watch: true`: resolves once the watch stream is live (changes from then on drop cached values). */
  watching(): Promise<void>;
}

/** A read-through cache of one kind of value, keyed by path and version. */
export interface ReadCache<V> extends SecretCache {
  /** The cached value, refreshed as the options say; `fresh` skips the cache and stores the answer. */
  get(path: string, version: number | undefined, fresh?: boolean): Promise<V>;
  /** Called by the client's watch when its stream is live. */
  markWatching(): void;
  /** Called by the client's watch when it gave up (reported through `onRefreshError` with path `""`). */
  reportWatchFailure(error: ScaiVaultError): void;
}

interface Entry<V> {
  value: V;
  fetchedAt: number;
  refreshing?: Promise<V>;
  /** After a failed refresh: no new attempt before this time, the stale value is served instead. */
  retryAt: number;
  failures: number;
}

const defaultTtlMs = 5 * 60_000;
const maxBackoffMs = 60_000;

/**
 * Creates a read cache in the spirit of AWS's secrets-manager caching client: values live for a
 * TTL, reads near the end of it refresh in the background, and while the service fails a value
 * is served stale for a bounded time, with failed refreshes retried after an exponential backoff
 * (1 s doubling to 60 s) rather than on every read.
 */
export function createReadCache<V>(fetch: (path: string, version: number | undefined) => Promise<V>, options: SecretCacheOptions = {}): ReadCache<V> {
  const ttl = options.ttlMs ?? defaultTtlMs;
  const refreshAhead = options.refreshAheadMs ?? Math.floor(ttl / 5);
  const maxStale = options.maxStaleMs ?? ttl;
  const maxEntries = options.maxEntries ?? 1000;
  for (const [name, value] of Object.entries({ ttlMs: ttl, refreshAheadMs: refreshAhead, maxStaleMs: maxStale, maxEntries })) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`ScaiVault cache: ${name} must be a non-negative number`);
  }
  const now = () => (options.clock ?? { now: () => new Date() }).now().getTime();

  let markWatching!: () => void;
  const watching = new Promise<void>((resolve) => (markWatching = resolve));
  const entries = new Map<string, Entry<V>>();
  const loading = new Map<string, Promise<V>>();
  // Bumped by every invalidation, so that a read that started before a write never stores the old value.
  const epochs = new Map<string, number>();
  let globalEpoch = 0;
  const epochOf = (path: string) => `${globalEpoch}:${epochs.get(path) ?? 0}`;
  const keyOf = (path: string, version: number | undefined) => `${path}\u0000${version ?? ""}`;

  function store(key: string, value: V): Entry<V> {
    const entry: Entry<V> = { value: deepFreeze(value), fetchedAt: now(), retryAt: 0, failures: 0 };
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    return entry;
  }

  function reportFailure(err: unknown, path: string): ScaiVaultError {
    const error = ScaiVaultError.from(err);
    options.onRefreshError?.(error, path);
    return error;
  }

  /** Fetches a key nobody has cached; concurrent readers share one call. */
  function load(key: string, path: string, version: number | undefined): Promise<V> {
    const pending = loading.get(key);
    if (pending) return pending;
    const epoch = epochOf(path);
    const promise = fetch(path, version)
      .then((value) => (epochOf(path) === epoch ? store(key, value).value : value))
      .finally(() => loading.delete(key));
    loading.set(key, promise);
    return promise;
  }

  /** Refreshes a cached key once at a time; a definitive error evicts it, a transient one schedules the next try. */
  function refresh(key: string, entry: Entry<V>, path: string, version: number | undefined): Promise<V> {
    if (entry.refreshing) return entry.refreshing;
    const epoch = epochOf(path);
    const current = () => entries.get(key) === entry && epochOf(path) === epoch;
    entry.refreshing = fetch(path, version)
      .then(
        (value) => {
          if (!current()) return value;
          return store(key, value).value;
        },
        (err: unknown) => {
          const error = reportFailure(err, path);
          if (current()) {
            if (error.isTransient) {
              entry.failures += 1;
              entry.retryAt = now() + Math.min(1000 * 2 ** (entry.failures - 1), maxBackoffMs);
            } else {
              entries.delete(key);
            }
          }
          throw error;
        },
      )
      .finally(() => {
        entry.refreshing = undefined;
      });
    return entry.refreshing;
  }

  return {
    async get(path, version, fresh = false) {
      const key = keyOf(path, version);
      const entry = entries.get(key);
      if (!entry) return load(key, path, version);
      if (fresh) return refresh(key, entry, path, version);
      entries.delete(key); // most recently read goes last
      entries.set(key, entry);

      const age = now() - entry.fetchedAt;
      if (age < ttl) {
        if (age >= ttl - refreshAhead && now() >= entry.retryAt) {
          refresh(key, entry, path, version).catch(() => undefined); // reported through onRefreshError
        }
        return entry.value;
      }
      const withinStaleBound = () => now() - entry.fetchedAt < ttl + maxStale;
      if (now() < entry.retryAt && withinStaleBound()) return entry.value;
      try {
        return await refresh(key, entry, path, version);
      } catch (err) {
        const error = ScaiVaultError.from(err);
        if (error.isTransient && withinStaleBound()) return entry.value;
        throw error;
      }
    },
    invalidate(path) {
      epochs.set(path, (epochs.get(path) ?? 0) + 1);
      if (epochs.size > 10 * maxEntries + 1000) {
        epochs.clear();
        globalEpoch += 1;
      }
      const prefix = keyOf(path, undefined);
      for (const key of [...entries.keys()]) if (key.startsWith(prefix)) entries.delete(key);
    },
    clear() {
      globalEpoch += 1;
      epochs.clear();
      entries.clear();
    },
    get size() {
      return entries.size;
    },
    watching: () => watching,
    markWatching: () => markWatching(),
    reportWatchFailure: (error) => options.onRefreshError?.(error, ""),
  };
}

/** Cached values are shared between readers, so none of them may change what the others see. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
