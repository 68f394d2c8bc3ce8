import { sql, type Selectable } from "kysely";
import type { SealedValue } from "../crypto/envelope.js";
import type { Executor, Tx } from "../db/database.js";
import type { NotificationChannelsTable } from "../db/schema.js";
import type { DeliveryQueue } from "../outbound/delivery-queue.js";

export type ChannelRow = Selectable<NotificationChannelsTable>;

/** Data access for notification channels. Every function takes the database or a transaction first; their queue and attempt log are the outbound delivery queue's. */

/** The channels' delivery queue and attempt log. */
export const channelQueue: DeliveryQueue = { deliveries: "notification_deliveries", attempts: "notification_attempts", targets: "notification_channels", targetColumn: "channel_id" };

/** Inserts a channel unless its id is taken in the tenant; undefined on a conflict. */
export async function insertChannel(
  exec: Executor,
  row: { tenantId: string; id: string; name: string; type: string; recipients: string[]; sealedUrl?: SealedValue; events: string[]; policyIds: string[]; isActive: boolean; now: Date },
): Promise<ChannelRow | undefined> {
  return exec
    .insertInto("notification_channels")
    .values({
      tenant_id: row.tenantId,
      id: row.id,
      name: row.name,
      type: row.type,
      recipients: row.recipients,
      url_key_id: row.sealedUrl?.keyId ?? null,
      url_nonce: row.sealedUrl?.nonce ?? null,
      url_ciphertext: row.sealedUrl?.ciphertext ?? null,
      events: row.events,
      policy_ids: row.policyIds,
      is_active: row.isActive,
      created_at: row.now,
      updated_at: row.now,
    })
    .onConflict((oc) => oc.columns(["tenant_id", "id"]).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Finds a channel of a tenant; `forUpdate` locks the row for the transaction. */
export async function findChannel(exec: Executor, tenantId: string, id: string, forUpdate = false): Promise<ChannelRow | undefined> {
  let query = exec.selectFrom("notification_channels").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
  if (forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** One page of a tenant's channels in id order after `afterId`, plus one row to tell `has_more`. */
export async function listChannelsPage(exec: Executor, tenantId: string, afterId: string | undefined, limit: number): Promise<ChannelRow[]> {
  let query = exec.selectFrom("notification_channels").selectAll().where("tenant_id", "=", tenantId);
  if (afterId !== undefined) query = query.where("id", ">", afterId);
  return query.orderBy("id").limit(limit + 1).execute();
}

/** The columns a patch may change. */
export interface ChannelChanges {
  recipients?: string[];
  sealedUrl?: SealedValue;
  events?: string[];
  policy_ids?: string[];
  is_active?: boolean;
}

/** Updates a channel; undefined when it does not exist. */
export async function updateChannel(exec: Executor, tenantId: string, id: string, changes: ChannelChanges, now: Date): Promise<ChannelRow | undefined> {
  const { sealedUrl, ...columns } = changes;
  return exec
    .updateTable("notification_channels")
    .set({
      ...columns,
      ...(sealedUrl ? { url_key_id: sealedUrl.keyId, url_nonce: sealedUrl.nonce, url_ciphertext: sealedUrl.ciphertext } : {}),
      updated_at: now,
    })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes a channel with its queue and attempt log; false when it did not exist. */
export async function deleteChannel(tx: Tx, tenantId: string, id: string): Promise<boolean> {
  const deleted = await tx.deleteFrom("notification_channels").where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) return false;
  await tx.deleteFrom("notification_deliveries").where("tenant_id", "=", tenantId).where("channel_id", "=", id).execute();
  await tx.deleteFrom("notification_attempts").where("tenant_id", "=", tenantId).where("channel_id", "=", id).execute();
  return true;
}

/** The ids among `ids` that are rotation policies of the tenant. */
export async function existingPolicyIds(exec: Executor, tenantId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await exec.selectFrom("rotation_policies").select("id").where("tenant_id", "=", tenantId).where("id", "in", ids).execute();
  return new Set(rows.map((r) => r.id));
}

/**
 * Fans the given outbox events out to channel deliveries, in the dispatcher's transaction (the
 * one that marks them dispatched, so each event reaches each channel once). Targets: active
 * channels of the tenant created by the event's time that subscribe to its type, plus those
 * attached to its rotation policy.
 */
export async function fanOutToChannels(tx: Tx, eventIds: string[], now: Date): Promise<number> {
  if (eventIds.length === 0) return 0;
  const inserted = await sql<{ id: number }>`
    insert into notification_deliveries (tenant_id, channel_id, event_id, state, attempts, next_attempt_at, created_at)
    select e.tenant_id, c.id, e.id, 'pending', 0, ${now}, ${now}
    from events e
    join notification_channels c on c.tenant_id = e.tenant_id and c.is_active and c.created_at <= e.created_at
    where e.id = any(${eventIds}::text[])
      and e.event_type <> 'ping'
      and (e.event_type = any(c.events) or (e.policy_id is not null and e.policy_id = any(c.policy_ids)))
    on conflict do nothing
    returning id
  `.execute(tx);
  return inserted.rows.length;
}
