import { sql, type Selectable } from "kysely";
import type { Executor, Tx } from "../db/database.js";
import type { WebhooksTable } from "../db/schema.js";
import type { DeliveryQueue } from "../outbound/delivery-queue.js";
import type { SealedValue } from "../crypto/envelope.js";

export type WebhookRow = Selectable<WebhooksTable>;

/** Data access for webhooks. Every function takes the database or a transaction first; their queue and attempt log are the outbound delivery queue's. */

/** The webhooks' delivery queue and attempt log. */
export const webhookQueue: DeliveryQueue = { deliveries: "webhook_deliveries", attempts: "webhook_attempts", targets: "webhooks", targetColumn: "webhook_id" };

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

/**
 * Fans the given outbox events out to webhook deliveries, in the dispatcher's transaction.
 * Targets: active webhooks of the tenant registered by the event's time that subscribe to its
 * type, plus the webhooks its rotation policy names.
 */
export async function fanOutToWebhooks(tx: Tx, eventIds: string[], now: Date): Promise<number> {
  const inserted = await sql<{ id: number }>`
    insert into webhook_deliveries (tenant_id, webhook_id, event_id, state, attempts, next_attempt_at, created_at)
    select e.tenant_id, w.id, e.id, 'pending', 0, ${now}, ${now}
    from events e
    join webhooks w on w.tenant_id = e.tenant_id and w.is_active and w.created_at <= e.created_at
    left join rotation_policies p on p.tenant_id = e.tenant_id and p.id = e.policy_id
    where e.id = any(${eventIds}::text[])
      and (e.event_type = any(w.events) or w.id = any(coalesce(p.webhook_ids, '{}'::text[])))
    on conflict do nothing
    returning id
  `.execute(tx);
  return inserted.rows.length;
}

/** Turns a webhook off (its endpoint answered 410 Gone). */
export async function disableWebhook(exec: Executor, tenantId: string, id: string, now: Date): Promise<void> {
  await exec.updateTable("webhooks").set({ is_active: false, updated_at: now }).where("tenant_id", "=", tenantId).where("id", "=", id).execute();
}
