// The delivery queue of the outbox, one for every kind of target (webhooks, notification
// channels): each kind keeps its own tables of the same shape (a queue `<kind>_deliveries`, an
// attempt log `<kind>_attempts`, both naming the target in one column), and these statements
// serve every kind through its `DeliveryQueue`. Every function takes the database or a
// transaction first.
import { sql } from "kysely";
import type { Executor, Tx } from "../db/database.js";

/** The tables of one kind of delivery target. */
export interface DeliveryQueue {
  /** The queue: one row per (target, event), `pending` until delivered or failed. */
  deliveries: "webhook_deliveries" | "notification_deliveries";
  /** The attempt log: one row per attempt. */
  attempts: "webhook_attempts" | "notification_attempts";
  /** The targets, keyed by (tenant_id, id), with an `is_active` flag. */
  targets: "webhooks" | "notification_channels";
  /** The column of the queue and the log that names the target. */
  targetColumn: "webhook_id" | "channel_id";
}

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  id: number;
  tenant_id: string;
  /** The webhook or channel. */
  target_id: string;
  event_id: string;
  /** The number of this attempt: the fencing token its result must still match. */
  attempts: number;
}

/** The outcome of one attempt, as recorded. */
export interface AttemptResult {
  state: "delivered" | "retrying" | "failed";
  attemptedAt: Date;
  statusCode?: number;
  latencyMs: number;
  error?: string;
  nextRetryAt?: Date;
}

/** One row of an attempt log (the target's own column left out: the caller asked for one target). */
export interface AttemptRow {
  id: number;
  delivery_id: number;
  tenant_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  attempted_at: Date;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  next_retry_at: Date | null;
  state: string;
}

/** Queues one event for one target, due now (the `test` ping); the event row is already written. */
export async function queueDelivery(exec: Executor, queue: DeliveryQueue, d: { tenantId: string; targetId: string; eventId: string; now: Date }): Promise<void> {
  await sql`
    insert into ${sql.table(queue.deliveries)} (tenant_id, ${sql.ref(queue.targetColumn)}, event_id, state, attempts, next_attempt_at, claimed_until, created_at)
    values (${d.tenantId}, ${d.targetId}, ${d.eventId}, 'pending', 0, ${d.now}, null, ${d.now})
    on conflict do nothing
  `.execute(exec);
}

/**
 * Claims up to `limit` due deliveries of active targets (FOR UPDATE SKIP LOCKED) in one
 * statement that commits on its own: the claim lasts until `claimUntil`, and the attempt
 * number goes up so that only this claim can record the attempt's result.
 */
export async function claimDueDeliveries(exec: Executor, queue: DeliveryQueue, now: Date, claimUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
  const target = sql.ref(queue.targetColumn);
  const result = await sql<ClaimedDelivery>`
    update ${sql.table(queue.deliveries)}
    set claimed_until = ${claimUntil}, attempts = attempts + 1
    where id in (
      select d.id
      from ${sql.table(queue.deliveries)} d
      join ${sql.table(queue.targets)} t on t.tenant_id = d.tenant_id and t.id = d.${target}
      where d.state = 'pending'
        and d.next_attempt_at <= ${now}
        and (d.claimed_until is null or d.claimed_until <= ${now})
        and t.is_active
      order by d.next_attempt_at, d.id
      limit ${limit}
      for update of d skip locked
    )
    returning id, tenant_id, ${target} as target_id, event_id, attempts
  `.execute(exec);
  return result.rows;
}

/**
 * Records an attempt's result if the claim is still this worker's (same attempt number, still
 * pending); false when a newer claim took over, in which case nothing is written.
 */
export async function recordAttempt(tx: Tx, queue: DeliveryQueue, claim: ClaimedDelivery, eventType: string, result: AttemptResult): Promise<boolean> {
  const updated = await sql<{ id: number }>`
    update ${sql.table(queue.deliveries)}
    set state = ${result.state === "retrying" ? "pending" : result.state},
        claimed_until = null
        ${result.nextRetryAt ? sql`, next_attempt_at = ${result.nextRetryAt}` : sql``}
    where id = ${claim.id} and attempts = ${claim.attempts} and state = 'pending'
    returning id
  `.execute(tx);
  if (updated.rows.length === 0) return false;
  await sql`
    insert into ${sql.table(queue.attempts)}
      (delivery_id, tenant_id, ${sql.ref(queue.targetColumn)}, event_id, event_type, attempt, attempted_at, status_code, latency_ms, error, next_retry_at, state)
    values (${claim.id}, ${claim.tenant_id}, ${claim.target_id}, ${claim.event_id}, ${eventType}, ${claim.attempts}, ${result.attemptedAt},
      ${result.statusCode ?? null}, ${result.latencyMs}, ${result.error ?? null}, ${result.nextRetryAt ?? null}, ${result.state})
  `.execute(tx);
  return true;
}

/** One page of a target's attempts, newest first (ids below `beforeId`), plus one row to tell `has_more`. */
export async function listAttemptsPage(exec: Executor, queue: DeliveryQueue, tenantId: string, targetId: string, beforeId: number | undefined, limit: number): Promise<AttemptRow[]> {
  const result = await sql<AttemptRow>`
    select id, delivery_id, tenant_id, event_id, event_type, attempt, attempted_at, status_code, latency_ms, error, next_retry_at, state
    from ${sql.table(queue.attempts)}
    where tenant_id = ${tenantId} and ${sql.ref(queue.targetColumn)} = ${targetId}
      ${beforeId !== undefined ? sql`and id < ${beforeId}` : sql``}
    order by id desc
    limit ${limit + 1}
  `.execute(exec);
  return result.rows;
}

/** The outbox events a round of claims needs, by id. */
export async function findEvents(exec: Executor, ids: string[]) {
  if (ids.length === 0) return [];
  return exec.selectFrom("events").select(["id", "tenant_id", "event_type", "path", "data", "created_at"]).where("id", "in", ids).execute();
}

/** An outbox event as a delivery reads it. */
export type OutboxEventRow = Awaited<ReturnType<typeof findEvents>>[number];

/** Queues deliveries of the given outbox events for one kind of target; returns how many it queued. */
export type FanOut = (tx: Tx, eventIds: string[], now: Date) => Promise<number>;

/**
 * Fans out up to `limit` undispatched outbox events to every kind of target and marks them
 * dispatched, in the caller's transaction. Rows another replica is dispatching are skipped
 * (SKIP LOCKED) and each queue's unique (target, tenant, event) key drops any duplicate, so each
 * event reaches each target once.
 */
export async function dispatchEvents(tx: Tx, now: Date, limit: number, fanOuts: readonly FanOut[]): Promise<{ events: number; deliveries: number }> {
  const batch = await tx
    .selectFrom("events")
    .select("id")
    .where("dispatched_at", "is", null)
    .orderBy("seq")
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
  if (batch.length === 0) return { events: 0, deliveries: 0 };
  const ids = batch.map((e) => e.id);
  let deliveries = 0;
  for (const fanOut of fanOuts) deliveries += await fanOut(tx, ids, now);
  await tx.updateTable("events").set({ dispatched_at: now }).where("id", "in", ids).execute();
  return { events: ids.length, deliveries };
}
