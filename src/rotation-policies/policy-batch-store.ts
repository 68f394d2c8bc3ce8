import { sql, type Insertable } from "kysely";
import type { SealedValue } from "../crypto/envelope.js";
import type { Tx } from "../db/database.js";
import type { RotationHistoryTable } from "../db/schema.js";
import type { VersionRow } from "../secrets/secrets-store.js";
import { setPlans, spreadKeyOf, type HistoryRow } from "./policy-store.js";
import { nextRotationPlan, timingOf } from "../rotation-planning/rotation-window.js";

/**
 * The writes of many generated rotations at once: one statement per table for the whole batch, so
 * that a scheduler chunk costs a handful of round trips instead of a dozen per secret. The caller
 * holds the secrets' and assignments' row locks, and each secret appears at most once per batch.
 * Per-row values travel as typed arrays (`unnest`), so a statement's text does not grow with the batch.
 */

/** The current version rows of `secrets`, by secret id. */
export async function findCurrentVersions(tx: Tx, secrets: { id: number; current_version: number }[]): Promise<Map<number, VersionRow>> {
  const rows = await tx
    .selectFrom("secret_versions")
    .selectAll()
    .where(sql<boolean>`(secret_id, version) in (select * from unnest(${secrets.map((s) => s.id)}::bigint[], ${secrets.map((s) => s.current_version)}::int[]))`)
    .execute();
  return new Map(rows.map((r) => [r.secret_id, r]));
}

/** One new version of a secret, written by a rotation. */
export interface RotatedVersion {
  secretId: number;
  previousVersion: number;
  version: number;
  sealed: SealedValue;
  at: Date;
  by: string;
  reason: string;
  /** When the previous version stops being readable: the end of the grace period. */
  previousReadableUntil: Date;
  /** The secret's max_versions: older versions beyond it are destroyed. */
  keep: number;
}

/** Makes each new version current, stores it, limits its predecessor to the grace period and prunes the oldest. */
export async function writeRotatedVersions(tx: Tx, versions: RotatedVersion[]): Promise<void> {
  if (versions.length === 0) return;
  const ids = versions.map((v) => v.secretId);
  const numbers = versions.map((v) => v.version);
  await sql`
    update secrets s set current_version = v.version, updated_at = v.at
    from unnest(${ids}::bigint[], ${numbers}::int[], ${versions.map((v) => v.at)}::timestamptz[]) as v(id, version, at)
    where s.id = v.id`.execute(tx);
  await tx
    .insertInto("secret_versions")
    .values(
      versions.map((v) => ({
        secret_id: v.secretId,
        version: v.version,
        key_id: v.sealed.keyId,
        nonce: v.sealed.nonce,
        ciphertext: v.sealed.ciphertext,
        created_at: v.at,
        created_by: v.by,
        readable_until: null,
      })),
    )
    .execute();
  await sql`
    update secret_versions sv set readable_until = p.until
    from unnest(${ids}::bigint[], ${versions.map((v) => v.previousVersion)}::int[], ${versions.map((v) => v.previousReadableUntil)}::timestamptz[]) as p(secret_id, version, until)
    where sv.secret_id = p.secret_id and sv.version = p.version`.execute(tx);
  // Versions are numbered from 1 and only ever grow: a secret cannot hold more of them than its newest number.
  const over = versions.filter((v) => v.version > v.keep);
  if (over.length > 0) await pruneOldest(tx, over);
}

/** Destroys every version of each secret beyond its newest `keep`, as secrets-store's pruneVersions does for one. */
async function pruneOldest(tx: Tx, versions: RotatedVersion[]): Promise<void> {
  await sql`
    delete from secret_versions sv
    using (
      select w.secret_id, w.version, k.keep, row_number() over (partition by w.secret_id order by w.version desc) as newer
      from secret_versions w
      join unnest(${versions.map((v) => v.secretId)}::bigint[], ${versions.map((v) => v.keep)}::int[]) as k(secret_id, keep) on k.secret_id = w.secret_id
    ) ranked
    where sv.secret_id = ranked.secret_id and sv.version = ranked.version and ranked.newer > ranked.keep`.execute(tx);
}

/**
 * Completes the open `pending` items the successes answer (as recordSuccess does for one); the
 * completed item of each secret that had one, by secret id.
 */
export async function completePendingItems(tx: Tx, versions: Pick<RotatedVersion, "secretId" | "previousVersion" | "version" | "at" | "by" | "reason">[]): Promise<Map<number, HistoryRow>> {
  if (versions.length === 0) return new Map();
  const { rows } = await sql<HistoryRow>`
    update rotation_history h
    set status = 'success', old_version = s.old_version, new_version = s.new_version, rotated_at = s.at, rotated_by = s.by,
        reason = coalesce(nullif(s.reason, ''), h.reason)
    from unnest(
      ${versions.map((v) => v.secretId)}::bigint[], ${versions.map((v) => v.previousVersion)}::int[], ${versions.map((v) => v.version)}::int[],
      ${versions.map((v) => v.at)}::timestamptz[], ${versions.map((v) => v.by)}::text[], ${versions.map((v) => v.reason)}::text[]
    ) as s(secret_id, old_version, new_version, at, by, reason)
    where h.secret_id = s.secret_id and h.status = 'pending'
    returning h.*`.execute(tx);
  const completed = new Map<number, HistoryRow>();
  for (const row of rows) if (!completed.has(row.secret_id!)) completed.set(row.secret_id!, row);
  return completed;
}

/**
 * Starts each secret's next cycle after its new version: next = that time + its policy's interval,
 * or the next window of its policy's schedule. The policy is read by this statement, without
 * locking it (a shared row every rotation would queue on): a policy change that commits later
 * restarts the schedules itself (`restartSchedules`), once this transaction releases the
 * assignments. Croner evaluates schedules, so scheduled rows get their window in a second
 * statement, made only when the batch has any.
 */
export async function startNextCycles(tx: Tx, written: { secretId: number; at: Date }[]): Promise<void> {
  if (written.length === 0) return;
  const { rows } = await sql<{ secret_id: number; at: Date } & TimingColumns>`
    update rotation_assignments a
    set last_rotated_at = w.at, next_rotation_at = coalesce(w.at + make_interval(secs => p.interval_seconds), w.at),
        window_opens_at = null, window_closes_at = null, cycle = a.cycle + 1,
        warned = '{}', attempts = 0, retry_at = null, claimed_until = null
    from unnest(${written.map((w) => w.secretId)}::bigint[], ${written.map((w) => w.at)}::timestamptz[]) as w(secret_id, at), rotation_policies p
    where a.secret_id = w.secret_id and p.tenant_id = a.tenant_id and p.id = a.policy_id
    returning a.secret_id, w.at, p.interval_seconds, p.schedule, p.timezone, p.rotation_window_seconds`.execute(tx);
  const scheduled = rows.filter((r) => r.schedule !== null);
  await setPlans(
    tx,
    scheduled.map((r) => ({ secretId: Number(r.secret_id), plan: nextRotationPlan(timingOf(r), new Date(r.at), new Date(r.at), spreadKeyOf(Number(r.secret_id))) })),
    { newCycle: false },
  );
}

type TimingColumns = { interval_seconds: number | null; schedule: string | null; timezone: string | null; rotation_window_seconds: number | null };

/** Appends history items; the stored rows in the order given. */
export async function insertHistoryItems(tx: Tx, items: Insertable<RotationHistoryTable>[]): Promise<HistoryRow[]> {
  if (items.length === 0) return [];
  const rows = await tx.insertInto("rotation_history").values(items).returningAll().execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  return items.map((item) => byId.get(item.id)!);
}
