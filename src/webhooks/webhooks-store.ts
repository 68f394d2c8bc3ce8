import { sql, type Selectable } from "kysely";
import type { Executor, Tx } from "../db/database.js";
import type { WebhookAttemptsTable, WebhooksTable } from "../db/schema.js";
import type { SealedValue } from "../crypto/envelope.js";

export type WebhookRow = Selectable<WebhooksTable>;
export type AttemptRow = Selectable<WebhookAttemptsTable>;

/** Data access for webhooks, their delivery queue and attempt log. Every function takes the database or a transaction first. */

/** Inserts a webhook unless its id is taken in the tenant; undefined on a conflict. */
export async function insertWebhook(
  exec: Executor,
  row: { tenantId: string; id: string; name: string; url: string; events: string[]; isActive: boolean; sealed: SealedValue; now: Date },
): Promise<WebhookRow | undefined> {
  return exec
    .insertInto("webhooks")
    .values({
      tenant_id: row.tenantId,
      id: row.id,
      name: row.name,
      url: row.url,
      events: row.events,
      is_active: row.isActive,
      secret_key_id: row.sealed.keyId,
      secret_nonce: row.sealed.nonce,
      secret_ciphertext: row.sealed.ciphertext,
      created_at: row.now,
      updated_at: row.now,
    })
    .onConflict((oc) => oc.columns(["tenant_id", "id"]).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Finds a webhook of a tenant; `forUpdate` locks the row for the transaction. */
export async function findWebhook(exec: Executor, tenantId: string, id: string, forUpdate = false): Promise<WebhookRow | undefined> {
  let query = exec.selectFrom("webhooks").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
  if (forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** One page of a tenant's webhooks in id order after `afterId`, plus one row to tell `has_more`. */
export async function listWebhooksPage(exec: Executor, tenantId: string, afterId: string | undefined, limit: number): Promise<WebhookRow[]> {
  let query = exec.selectFrom("webhooks").selectAll().where("tenant_id", "=", tenantId);
  if (afterId !== undefined) query = query.where("id", ">", afterId);
  return query.orderBy("id").limit(limit + 1).execute();
}

/** The columns a patch may change. */
export interface WebhookChanges {
  url?: string;
  events?: string[];
  is_active?: boolean;
  sealed?: SealedValue;
}

/** Updates a webhook; undefined when it does not exist. */
export async function updateWebhook(exec: Executor, tenantId: string, id: string, changes: WebhookChanges, now: Date): Promise<WebhookRow | undefined> {
  const { sealed, ...columns } = changes;
  return exec
    .updateTable("webhooks")
    .set({
      ...columns,
      ...(sealed ? { secret_key_id: sealed.keyId, secret_nonce: sealed.nonce, secret_ciphertext: sealed.ciphertext } : {}),
      updated_at: now,
    })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes a webhook with its queue and log, and detaches it from rotation policies; false when it did not exist. */
export async function deleteWebhook(tx: Tx, tenantId: string, id: string): Promise<boolean> {
  const deleted = await tx.deleteFrom("webhooks").where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) return false;
  await tx.deleteFrom("webhook_deliveries").where("tenant_id", "=", tenantId).where("webhook_id", "=", id).execute();
  // A later webhook of the same name must not inherit the old one's policy attachments.
  await tx
    .updateTable("rotation_policies")
    .set({ webhook_ids: sql<string[]>`array_remove(webhook_ids, ${id})` })
    .where("tenant_id", "=", tenantId)
    .where(sql<boolean>`${id} = any(webhook_ids)`)
    .execute();
  return true;
}

/** One page of a webhook's attempts, newest first (ids below `beforeId`), plus one row to tell `has_more`. */
export async function listAttemptsPage(exec: Executor, tenantId: string, webhookId: string, beforeId: number | undefined, limit: number): Promise<AttemptRow[]> {
  let query = exec.selectFrom("webhook_attempts").selectAll().where("tenant_id", "=", tenantId).where("webhook_id", "=", webhookId);
  if (beforeId !== undefined) query = query.where("id", "<", beforeId);
  return query.orderBy("id", "desc").limit(limit + 1).execute();
}

/** Queues one event for one webhook, due now (the `test` ping); the event row is already written. */
export async function queueDelivery(exec: Executor, d: { tenantId: string; webhookId: string; eventId: string; now: Date }): Promise<void> {
  await exec
    .insertInto("webhook_deliveries")
    .values({ tenant_id: d.tenantId, webhook_id: d.webhookId, event_id: d.eventId, state: "pending", attempts: 0, next_attempt_at: d.now, claimed_until: null, created_at: d.now })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * Fans out up to `limit` undispatched outbox events into per-webhook deliveries and marks them
 * dispatched, in the caller's transaction. Rows another replica is dispatching are skipped
 * (SKIP LOCKED) and the unique (webhook, tenant, event) key drops any duplicate, so each event
 * reaches each webhook once. Targets: active webhooks of the tenant registered by the event's
 * time that subscribe to its type, plus the webhooks its rotation policy names.
 */
export async function dispatchEvents(
  tx: Tx,
  now: Date,
  limit: number,
  /** Other fan-outs of the same events in the same transaction (notification channels): each returns the deliveries it queued. */
  alsoFanOut: readonly ((tx: Tx, eventIds: string[], now: Date) => Promise<number>)[] = [],
): Promise<{ events: number; deliveries: number }> {
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
  const inserted = await sql<{ id: number }>`
    insert into webhook_deliveries (tenant_id, webhook_id, event_id, state, attempts, next_attempt_at, created_at)
    select e.tenant_id, w.id, e.id, 'pending', 0, ${now}, ${now}
    from events e
    join webhooks w on w.tenant_id = e.tenant_id and w.is_active and w.created_at <= e.created_at
    left join rotation_policies p on p.tenant_id = e.tenant_id and p.id = e.policy_id
    where e.id = any(${ids}::text[])
      and (e.event_type = any(w.events) or w.id = any(coalesce(p.webhook_ids, '{}'::text[])))
    on conflict do nothing
    returning id
  `.execute(tx);
  let deliveries = inserted.rows.length;
  for (const fanOut of alsoFanOut) deliveries += await fanOut(tx, ids, now);
  await tx.updateTable("events").set({ dispatched_at: now }).where("id", "in", ids).execute();
  return { events: ids.length, deliveries };
}

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  id: number;
  tenant_id: string;
  webhook_id: string;
  event_id: string;
  /** The number of this attempt: the fencing token its result must still match. */
  attempts: number;
}

/**
 * Claims up to `limit` due deliveries of active webhooks (FOR UPDATE SKIP LOCKED) in one
 * statement that commits on its own: the claim lasts until `claimUntil`, and the attempt
 * number goes up so that only this claim can record the attempt's result.
 */
export async function claimDueDeliveries(exec: Executor, now: Date, claimUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
  const result = await sql<ClaimedDelivery>`
    update webhook_deliveries
    set claimed_until = ${claimUntil}, attempts = attempts + 1
    where id in (
      select d.id
      from webhook_deliveries d
      join webhooks w on w.tenant_id = d.tenant_id and w.id = d.webhook_id
      where d.state = 'pending'
        and d.next_attempt_at <= ${now}
        and (d.claimed_until is null or d.claimed_until <= ${now})
        and w.is_active
      order by d.next_attempt_at, d.id
      limit ${limit}
      for update of d skip locked
    )
    returning id, tenant_id, webhook_id, event_id, attempts
  `.execute(exec);
  return result.rows;
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

/**
 * Records an attempt's result if the claim is still this worker's (same attempt number, still
 * pending); false when a newer claim took over, in which case nothing is written.
 */
export async function recordAttempt(tx: Tx, claim: ClaimedDelivery, eventType: string, result: AttemptResult): Promise<boolean> {
  const updated = await tx
    .updateTable("webhook_deliveries")
    .set({
      state: result.state === "retrying" ? "pending" : result.state,
      claimed_until: null,
      ...(result.nextRetryAt ? { next_attempt_at: result.nextRetryAt } : {}),
    })
    .where("id", "=", claim.id)
    .where("attempts", "=", claim.attempts)
    .where("state", "=", "pending")
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return false;
  await tx
    .insertInto("webhook_attempts")
    .values({
      delivery_id: claim.id,
      tenant_id: claim.tenant_id,
      webhook_id: claim.webhook_id,
      event_id: claim.event_id,
      event_type: eventType,
      attempt: claim.attempts,
      attempted_at: result.attemptedAt,
      status_code: result.statusCode ?? null,
      latency_ms: result.latencyMs,
      error: result.error ?? null,
      next_retry_at: result.nextRetryAt ?? null,
      state: result.state,
    })
    .execute();
  return true;
}

/** Turns a webhook off (its endpoint answered 410 Gone). */
export async function disableWebhook(exec: Executor, tenantId: string, id: string, now: Date): Promise<void> {
  await exec.updateTable("webhooks").set({ is_active: false, updated_at: now }).where("tenant_id", "=", tenantId).where("id", "=", id).execute();
}

/** Reads the outbox events of the given ids. */
export async function findEvents(exec: Executor, ids: string[]) {
  if (ids.length === 0) return [];
  return exec.selectFrom("events").select(["id", "tenant_id", "event_type", "path", "data", "created_at"]).where("id", "in", ids).execute();
}
