// The read path's rows: a secret's row and one version row, from the read cache when they are
// still current, from the database otherwise.
//
// Change notices alone cannot make a cache across replicas promise read-your-acknowledged-writes:
// between another replica's commit (and its answer to the writer) and this replica hearing the
// notice there are a few milliseconds in which the cached row is already old. So with several
// replicas possible (PostgreSQL), a cache hit is checked first: one indexed statement reads the
// current stamps (`xmin`) of the secret's row and of the version row the read wants (grouped with
// other reads' checks: secrets/stamp-checker.ts), and a row is
// used from the cache only when its stamp is still the row's. That statement begins after the
// read did, so it sees every write acknowledged before: a read never returns a version older
// than one acknowledged before it began, on whichever replica. The cache still saves the two
// rows' reads (the ciphertext included); notices still drop stale entries early. The embedded
// database has one process, whose own writes drop its entries before they are acknowledged: no
// check needed there.
import type { Db } from "../db/database.js";
import type { CachedSecret, SecretReadCache } from "./secret-read-cache.js";
import * as store from "./secrets-store.js";
import type { SecretRow, VersionRow } from "./secrets-store.js";
import type { StampChecker } from "./stamp-checker.js";

export interface CachedSecretReadDeps {
  db: Db;
  cache: SecretReadCache;
  /** Checks a cached row against the database's before use: present wherever several replicas may write (PostgreSQL). */
  stamps: StampChecker | undefined;
}

/**
 * The secret row at `path` (undefined when there is none) and the row of `version` (default: the
 * current one; undefined when there is none), each current as of a moment after the call began.
 */
export async function readSecretRows(
  deps: CachedSecretReadDeps,
  ownerId: string,
  path: string,
  version: number | undefined,
): Promise<{ secret: SecretRow; row: VersionRow | undefined } | undefined> {
  const { db, cache } = deps;
  let generation = cache.generation();
  let entry = cache.get(ownerId, path);
  /** The stamp the wanted version row has now, when the cached entry was checked (null: no such row). */
  let versionStampNow: string | null | undefined;
  if (entry && deps.stamps) {
    const now = await deps.stamps.check(entry.secret.id, version);
    if (!now || now.secret !== entry.stamp) {
      cache.invalidateSecret(entry.secret.id);
      generation = cache.generation();
      entry = undefined;
    } else {
      versionStampNow = now.version;
    }
  }
  if (!entry) {
    const found = await store.findSecretStamped(db, ownerId, path);
    if (!found) return undefined;
    entry = { secret: found.row, stamp: found.stamp, versions: new Map(), versionStamps: new Map() };
    cache.put(ownerId, path, entry, generation);
    versionStampNow = undefined;
  }
  const v = version ?? entry.secret.current_version;
  const cached = entry.versions.get(v);
  if (cached && (!deps.stamps || (versionStampNow !== undefined && entry.versionStamps?.get(v) === versionStampNow))) {
    return { secret: entry.secret, row: cached };
  }
  const found = await store.findVersionStamped(db, entry.secret.id, v);
  if (found && cache.generation() === generation) {
    entry.versions.set(v, found.row);
    entry.versionStamps?.set(v, found.stamp);
  }
  return { secret: entry.secret, row: found?.row };
}
