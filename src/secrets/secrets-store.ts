import { sql, type Selectable, type Updateable } from "kysely";
import type { Executor } from "../db/database.js";
import type { SecretsTable, SecretVersionsTable } from "../db/schema.js";
import type { SealedValue } from "../crypto/envelope.js";

export type SecretRow = Selectable<SecretsTable>;
export type VersionRow = Omit<Selectable<SecretVersionsTable>, "provider_metadata">;

/** Data access for secrets and their versions. Every function takes the database or a transaction first. */

// The hot statements name their columns instead of `*`, so each connection can prepare them once
// (db/prepared-statements.ts). The return types keep the lists whole: a column left out fails
// the type check.
export const secretColumns = [
  "id",
  "tenant_id",
  "path",
  "secret_type",
  "description",
  "tags",
  "owner",
  "max_versions",
  "expires_at",
  "rotation_policy_id",
  "secret_policy_id",
  "current_version",
  "created_at",
  "updated_at",
  "deleted_at",
  "purge_after",
  "last_accessed_at",
  "custom_metadata",
  "cas_required",
  "delete_version_after_seconds",
] as const;
const versionColumns = ["secret_id", "version", "key_id", "nonce", "ciphertext", "created_at", "created_by", "readable_until", "rotation_state", "deleted_at", "destroyed_at"] as const;

/** Finds a secret by owner and path, deleted or not; `forUpdate` locks the row for the transaction. */
export async function findSecret(exec: Executor, ownerId: string, path: string, forUpdate = false): Promise<SecretRow | undefined> {
  let query = exec.selectFrom("secrets").select(secretColumns).where("tenant_id", "=", ownerId).where("path", "=", path);
  if (forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** Inserts a new secret row unless one exists at that path; undefined when another writer won. */
export async function insertSecret(
  exec: Executor,
  row: Omit<SecretRow, "id" | "deleted_at" | "purge_after" | "last_accessed_at" | "custom_metadata" | "cas_required" | "delete_version_after_seconds">,
): Promise<SecretRow | undefined> {
  return exec
    .insertInto("secrets")
    .values(row)
    .onConflict((oc) => oc.columns(["tenant_id", "path"]).doNothing())
    .returning(secretColumns)
    .executeTakeFirst();
}

/** Updates columns of a secret row. */
export async function updateSecret(exec: Executor, id: number, changes: Omit<Updateable<SecretsTable>, "id">): Promise<void> {
  await exec.updateTable("secrets").set(changes).where("id", "=", id).execute();
}

/** One version's ciphertext as it is stored. */
export interface NewVersion {
  secretId: number;
  version: number;
  sealed: SealedValue;
  createdAt: Date;
  createdBy: string;
}

function versionRow(v: NewVersion) {
  return {
    secret_id: v.secretId,
    version: v.version,
    key_id: v.sealed.keyId,
    nonce: v.sealed.nonce,
    ciphertext: v.sealed.ciphertext,
    created_at: v.createdAt,
    created_by: v.createdBy,
    readable_until: null,
  };
}

/** Stores one version's ciphertext. */
export async function insertVersion(exec: Executor, v: NewVersion): Promise<void> {
  await exec.insertInto("secret_versions").values(versionRow(v)).execute();
}

/**
 * Stores a secret's new newest version and destroys the versions beyond the newest `keep`, in one
 * statement (a write's round trip less than `insertVersion` then `pruneVersions`). Both parts
 * read the versions as they were before the statement, so the new one, whose number is larger
 * than any of them, is kept and `keep - 1` of the others with it. Call it with the secret's row
 * locked.
 */
export async function insertNewestVersion(exec: Executor, v: NewVersion, keep: number): Promise<void> {
  await exec
    .with("inserted", (db) => db.insertInto("secret_versions").values(versionRow(v)).returning("version"))
    .deleteFrom("secret_versions")
    .where("secret_id", "=", v.secretId)
    .where("version", "not in", newestVersionNumbers(exec, v.secretId, keep - 1))
    .execute();
}

/**
 * Makes the secret's next free version number its current one, with `changes`, in one statement,
 * and returns that number: numbers are never reused, a provider rotation's pending or discarded
 * ones included. Call it with the secret's row locked: the statement reads the versions after the
 * lock was granted, so a writer that held it before has committed its version by then.
 */
export async function advanceToNextVersion(exec: Executor, secretId: number, changes: Partial<Omit<SecretRow, "id" | "current_version">>): Promise<number> {
  const row = await exec
    .updateTable("secrets")
    .set({ ...changes, current_version: nextFreeVersion(secretId) })
    .where("id", "=", secretId)
    .returning("current_version")
    .executeTakeFirstOrThrow();
  return row.current_version;
}

/** The next free version number of a secret: numbers are never reused, a provider rotation's pending or discarded ones included. */
export async function nextVersionNumber(exec: Executor, secretId: number): Promise<number> {
  const { rows } = await sql<{ v: number }>`select ${nextFreeVersion(secretId)} as v`.execute(exec);
  return rows[0]!.v;
}

/** The rule both share, as SQL: one past the largest version the secret ever had. */
function nextFreeVersion(secretId: number) {
  return sql<number>`(select coalesce(max(version), 0)::int + 1 from secret_versions where secret_id = ${secretId})`;
}

/** Reads one version row. */
export async function findVersion(exec: Executor, secretId: number, version: number): Promise<VersionRow | undefined> {
  return exec.selectFrom("secret_versions").select(versionColumns).where("secret_id", "=", secretId).where("version", "=", version).executeTakeFirst();
}

/**
 * A row's stamp: PostgreSQL's `xmin`, the transaction that wrote this version of the row. Every
 * change of a row (an update, or a delete and insert) gives it a new one, so a cached row whose
 * stamp is still the row's current one is still the row (see secrets/cached-secret-read.ts).
 */
const rowStamp = sql<string>`xmin::text`.as("row_stamp");

/** `findSecret` (no lock) with the row's stamp. */
export async function findSecretStamped(exec: Executor, ownerId: string, path: string): Promise<{ row: SecretRow; stamp: string } | undefined> {
  const found = await exec.selectFrom("secrets").select(secretColumns).select(rowStamp).where("tenant_id", "=", ownerId).where("path", "=", path).executeTakeFirst();
  if (!found) return undefined;
  const { row_stamp: stamp, ...row } = found;
  return { row, stamp };
}

/** `findVersion` with the row's stamp. */
export async function findVersionStamped(exec: Executor, secretId: number, version: number): Promise<{ row: VersionRow; stamp: string } | undefined> {
  const found = await exec
    .selectFrom("secret_versions")
    .select(versionColumns)
    .select(rowStamp)
    .where("secret_id", "=", secretId)
    .where("version", "=", version)
    .executeTakeFirst();
  if (!found) return undefined;
  const { row_stamp: stamp, ...row } = found;
  return { row, stamp };
}

/** The current stamps of a secret's row and of one of its version rows; `version` null when that version row is gone. */
export interface CurrentStamps {
  secret: string;
  version: string | null;
}

/**
 * The current stamps of secrets' rows and of one version row of each (its `version`, or the
 * current one), in one indexed statement and one snapshot: what cached reads check their rows
 * against. One answer per check, in order; undefined where the secret row is gone.
 */
export async function currentStampsOf(exec: Executor, checks: { secretId: number; version: number | undefined }[]): Promise<(CurrentStamps | undefined)[]> {
  const { rows } = await sql<{ i: string; secret_stamp: string; version_stamp: string | null }>`
    select q.i::text as i, s.xmin::text as secret_stamp, v.xmin::text as version_stamp
    from unnest(${checks.map((c) => c.secretId)}::bigint[], ${checks.map((c) => c.version ?? null)}::int[]) with ordinality as q(secret_id, version, i)
    join secrets s on s.id = q.secret_id
    left join secret_versions v on v.secret_id = s.id and v.version = coalesce(q.version, s.current_version)`.execute(exec);
  const answers: (CurrentStamps | undefined)[] = checks.map(() => undefined);
  for (const row of rows) answers[Number(row.i) - 1] = { secret: row.secret_stamp, version: row.version_stamp };
  return answers;
}

/** Lists version numbers and dates, newest first (no ciphertext). */
export async function listVersions(exec: Executor, secretId: number) {
  return exec
    .selectFrom("secret_versions")
    .select(["version", "created_at", "readable_until", "rotation_state", "deleted_at", "destroyed_at", "provider_metadata"])
    .where("secret_id", "=", secretId)
    .orderBy("version", "desc")
    .execute();
}

/** Destroys every version beyond the newest `keep`; returns how many were destroyed. */
export async function pruneVersions(exec: Executor, secretId: number, keep: number): Promise<number> {
  const result = await exec
    .deleteFrom("secret_versions")
    .where("secret_id", "=", secretId)
    .where("version", "not in", newestVersionNumbers(exec, secretId, keep))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The numbers of a secret's newest `count` versions, as a subquery: what pruning keeps. */
function newestVersionNumbers(exec: Executor, secretId: number, count: number) {
  return exec.selectFrom("secret_versions").select("version").where("secret_id", "=", secretId).orderBy("version", "desc").limit(count);
}

/** Destroys one version; true when it existed. */
export async function deleteVersion(exec: Executor, secretId: number, version: number): Promise<boolean> {
  const result = await exec.deleteFrom("secret_versions").where("secret_id", "=", secretId).where("version", "=", version).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Limits a version's readability (a rotation's grace period). */
export async function setVersionReadableUntil(exec: Executor, secretId: number, version: number, until: Date): Promise<void> {
  await exec
    .updateTable("secret_versions")
    .set({ readable_until: until })
    .where("secret_id", "=", secretId)
    .where("version", "=", version)
    .execute();
}

/** Deletes a secret and (by cascade) every version's ciphertext. */
export async function destroySecret(exec: Executor, id: number): Promise<void> {
  await exec.deleteFrom("secrets").where("id", "=", id).execute();
}

/** Counts stored versions. */
export async function countVersions(exec: Executor, secretId: number): Promise<number> {
  const row = await exec
    .selectFrom("secret_versions")
    .select(sql<number>`count(*)::int`.as("n"))
    .where("secret_id", "=", secretId)
    .executeTakeFirstOrThrow();
  return row.n;
}

/** When a secret was last read, as flushed so far. */
export async function lastAccessedAt(exec: Executor, secretId: number): Promise<Date | null> {
  const row = await exec.selectFrom("secrets").select("last_accessed_at").where("id", "=", secretId).executeTakeFirst();
  return row?.last_accessed_at ?? null;
}

/** Sums reads since `since` (a date, YYYY-MM-DD). */
export async function accessCountSince(exec: Executor, secretId: number, since: string): Promise<number> {
  const row = await exec
    .selectFrom("secret_access_daily")
    .select(sql<number>`coalesce(sum(count), 0)::int`.as("n"))
    .where("secret_id", "=", secretId)
    .where("day", ">", since)
    .executeTakeFirstOrThrow();
  return row.n;
}

/** The filters of a listing. */
export interface SecretListQuery {
  ownerId: string;
  prefix?: string;
  tags: string[];
  secretType?: string;
  expiresBefore?: Date;
  updatedAfter?: Date;
  includeExpired: boolean;
  now: Date;
  afterPath?: string;
  limit: number;
}

/**
 * The listing's order: paths compared byte by byte (`collate "C"`, as the `secrets_listing` index
 * is built), whatever the database's default collation, so a prefix is one contiguous range of
 * the index and a cursor position means the same on every database.
 */
const pathInListingOrder = sql<string>`path collate "C"`;

/**
 * Past every path that starts with `prefix`: paths are ASCII, so none continues with U+10FFFF,
 * the largest code point.
 */
const afterPrefix = (prefix: string) => `${prefix}\u{10FFFF}`;

function filtered(exec: Executor, q: SecretListQuery) {
  let query = exec.selectFrom("secrets").where("tenant_id", "=", q.ownerId).where("deleted_at", "is", null);
  if (q.prefix) query = query.where(pathInListingOrder, ">=", q.prefix).where(pathInListingOrder, "<", afterPrefix(q.prefix));
  if (q.tags.length > 0) query = query.where("tags", "@>", sql<string[]>`${q.tags}::text[]`);
  if (q.secretType) query = query.where("secret_type", "=", q.secretType);
  if (q.expiresBefore) query = query.where("expires_at", "<", q.expiresBefore);
  if (q.updatedAfter) query = query.where("updated_at", ">", q.updatedAfter);
  if (!q.includeExpired) query = query.where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", q.now)]));
  return query;
}

/** One page of a listing in path order (keyset: rows after `afterPath`), one extra row to tell `has_more`. */
export async function listSecretsPage(exec: Executor, q: SecretListQuery): Promise<SecretRow[]> {
  let query = filtered(exec, q).selectAll();
  if (q.afterPath !== undefined) query = query.where(pathInListingOrder, ">", q.afterPath);
  return query.orderBy(pathInListingOrder).limit(q.limit + 1).execute();
}

/**
 * Counts the rows matching the filters, but reads at most `upTo + 1` of them: the cost of a
 * listing's count is bounded however many secrets match. `exact` is false when more than
 * `upTo` match; `count` is then `upTo`, a lower bound.
 */
export async function countSecretsUpTo(exec: Executor, q: SecretListQuery, upTo: number): Promise<{ count: number; exact: boolean }> {
  const matches = filtered(exec, q).select(sql<number>`1`.as("one")).limit(upTo + 1);
  const row = await exec
    .selectFrom(matches.as("m"))
    .select(sql<number>`count(*)::int`.as("n"))
    .executeTakeFirstOrThrow();
  return row.n > upTo ? { count: upTo, exact: false } : { count: row.n, exact: true };
}

/** Live secrets expiring between now and `until`. */
export async function listExpiring(exec: Executor, ownerId: string, now: Date, until: Date) {
  return exec
    .selectFrom("secrets")
    .select(["path", "expires_at"])
    .where("tenant_id", "=", ownerId)
    .where("deleted_at", "is", null)
    .where("expires_at", ">", now)
    .where("expires_at", "<=", until)
    .orderBy("expires_at")
    .execute();
}

/** Permanently removes soft-deleted secrets past their retention; returns how many. */
export async function purgeDeleted(exec: Executor, now: Date): Promise<number> {
  const result = await exec.deleteFrom("secrets").where("deleted_at", "is not", null).where("purge_after", "<=", now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Deletes, undeletes or destroys a secret's versions (a provider rotation's own are left alone);
 * returns the numbers changed. Destroying wipes the ciphertext and keeps the row, so the history
 * still shows the version. Call it with the secret's row locked.
 */
export async function changeVersions(exec: Executor, secretId: number, change: "delete" | "undelete" | "destroy", versions: number[], now: Date): Promise<number[]> {
  const base = exec.updateTable("secret_versions");
  const set =
    change === "delete"
      ? base.set({ deleted_at: now }).where("deleted_at", "is", null)
      : change === "undelete"
        ? base.set({ deleted_at: null }).where("deleted_at", "is not", null)
        : base.set({ destroyed_at: now, ciphertext: new Uint8Array(0), nonce: new Uint8Array(0) });
  const rows = await set
    .where("secret_id", "=", secretId)
    .where("version", "in", versions)
    .where("destroyed_at", "is", null)
    .where("rotation_state", "is", null)
    .returning("version")
    .execute();
  return rows.map((r) => r.version).sort((a, b) => a - b);
}
