import { sql } from "kysely";
import type { Db } from "../db/database.js";

// Each statement deletes within the oldest `batch` rows of its table (by primary key, which grows
// with time), so it touches a bounded number of rows, uses the primary key index only, and costs
// next to nothing when there is nothing to purge (no index on the time columns is needed).

/** Deletes audit entries older than `cutoff` among the oldest `batch`; returns how many went. */
export async function purgeAuditEntries(db: Db, cutoff: Date, batch: number): Promise<number> {
  const r = await sql`
    delete from audit_events
    where id in (select id from audit_events order by id limit ${batch}) and time < ${cutoff}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Deletes events older than `cutoff` that were already fanned out, among the oldest `batch`. */
export async function purgeEvents(db: Db, cutoff: Date, batch: number): Promise<number> {
  const r = await sql`
    delete from events
    where seq in (select seq from events order by seq limit ${batch}) and created_at < ${cutoff} and dispatched_at is not null`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Deletes finished (delivered or failed) webhook deliveries older than `cutoff`, with their attempts. */
export async function purgeFinishedDeliveries(db: Db, cutoff: Date, batch: number): Promise<number> {
  const r = await sql`
    delete from webhook_deliveries
    where id in (select id from webhook_deliveries order by id limit ${batch}) and created_at < ${cutoff} and state <> 'pending'`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Deletes webhook delivery attempts older than `cutoff` among the oldest `batch`. */
export async function purgeDeliveryAttempts(db: Db, cutoff: Date, batch: number): Promise<number> {
  const r = await sql`
    delete from webhook_attempts
    where id in (select id from webhook_attempts order by id limit ${batch}) and attempted_at < ${cutoff}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
