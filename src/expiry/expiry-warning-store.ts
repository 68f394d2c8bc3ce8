import { sql } from "kysely";
import type { Executor, Tx } from "../db/database.js";

/** A warning row just recorded, with what its event names. */
export interface RecordedWarning {
  secret_id: number;
  tenant_id: string;
  path: string;
  expires_at: Date;
  threshold_seconds: number;
}

/**
 * Ids (ascending, after `afterId`) of live, not yet expired secrets that have crossed one of the
 * thresholds at `now` without a warning recorded for it and their current expiry.
 */
export async function findSecretsDueWarning(
  exec: Executor,
  q: { now: Date; thresholdSeconds: readonly number[]; afterId: number; limit: number },
): Promise<number[]> {
  const horizon = new Date(q.now.getTime() + Math.max(...q.thresholdSeconds) * 1000);
  const rows = await sql<{ id: number }>`
    select s.id from secrets s
    where s.expires_at is not null and s.deleted_at is null
      and s.expires_at > ${q.now} and s.expires_at <= ${horizon}
      and s.id > ${q.afterId}
      and exists (
        select 1 from unnest(${[...q.thresholdSeconds]}::int[]) as t(seconds)
        where s.expires_at <= ${q.now}::timestamptz + t.seconds * interval '1 second'
          and not exists (
            select 1 from secret_expiry_warnings w
            where w.secret_id = s.id and w.expires_at = s.expires_at and w.threshold_seconds = t.seconds))
    order by s.id
    limit ${q.limit}
  `.execute(exec);
  return rows.rows.map((r) => Number(r.id));
}

/**
 * Records, for each of these secrets still live and not expired, every threshold it has crossed at
 * `now`, and returns the rows this call inserted. A row another transaction recorded first is
 * skipped (after that transaction ends): of several replicas only one gets each row back, so only
 * one sends its warning. Rows go in (secret, threshold) order, so two recorders never deadlock.
 */
export async function recordWarnings(tx: Tx, q: { ids: readonly number[]; now: Date; thresholdSeconds: readonly number[] }): Promise<RecordedWarning[]> {
  if (q.ids.length === 0) return [];
  const rows = await sql<RecordedWarning>`
    with recorded as (
      insert into secret_expiry_warnings (secret_id, expires_at, threshold_seconds, recorded_at)
      select s.id, s.expires_at, t.seconds, ${q.now}
      from secrets s cross join unnest(${[...q.thresholdSeconds]}::int[]) as t(seconds)
      where s.id = any(${[...q.ids]}::bigint[]) and s.deleted_at is null
        and s.expires_at > ${q.now}
        and s.expires_at <= ${q.now}::timestamptz + t.seconds * interval '1 second'
      order by s.id, t.seconds
      on conflict do nothing
      returning secret_id, expires_at, threshold_seconds
    )
    select r.secret_id, s.tenant_id, s.path, r.expires_at, r.threshold_seconds
    from recorded r join secrets s on s.id = r.secret_id
  `.execute(tx);
  return rows.rows.map((r) => ({ ...r, secret_id: Number(r.secret_id), expires_at: new Date(r.expires_at) }));
}

/** Deletes the rows of expiries that have passed (they can never be sent again); returns how many went. */
export async function purgePassedWarnings(exec: Executor, now: Date): Promise<number> {
  const result = await exec.deleteFrom("secret_expiry_warnings").where("expires_at", "<=", now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
