import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { Executor } from "../db/database.js";

/** The event types of the contract. */
export const eventTypes = [
  "rotation.due",
  "rotation.completed",
  "rotation.failed",
  "rotation.revoked",
  "secret.created",
  "secret.updated",
  "secret.deleted",
  "secret.restored",
  "secret.expiring",
] as const;
export type EventType = (typeof eventTypes)[number] | "ping";

/** An event as written to the outbox; `data` must never hold a secret value. */
export interface OutboxEvent {
  tenantId: string;
  eventType: EventType;
  path?: string;
  policyId?: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** A new event id (`evt_` + 128 random bits). */
export function newEventId(): string {
  return `evt_${randomBytes(16).toString("hex")}`;
}

/**
 * Appends events in the caller's transaction, so they exist if and only if the change commits.
 * Each tenant's events are numbered under a transaction lock of that tenant, so within a tenant
 * `seq` order is commit order: a watcher that resumes after seq N can never miss an event that
 * committed later with a smaller number. Tenants are locked in sorted order (no deadlock between
 * batches that span tenants).
 */
export async function appendEvents(exec: Executor, events: OutboxEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  for (const tenantId of [...new Set(events.map((e) => e.tenantId))].sort()) {
    await sql`select pg_advisory_xact_lock(hashtextextended(${"scaivault.events:" + tenantId}, 0))`.execute(exec);
  }
  const ids = events.map(() => newEventId());
  await exec
    .insertInto("events")
    .values(
      events.map((e, i) => ({
        id: ids[i]!,
        tenant_id: e.tenantId,
        event_type: e.eventType,
        path: e.path ?? null,
        policy_id: e.policyId ?? null,
        data: JSON.stringify(e.data),
        created_at: e.createdAt,
      })),
    )
    .execute();
  return ids;
}

/** Reads a tenant's events in order (used by tests and by the delivery worker). */
export async function listEvents(exec: Executor, tenantId: string, afterSeq = 0) {
  return exec
    .selectFrom("events")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("seq", ">", afterSeq)
    .orderBy("seq")
    .execute();
}

/** An outbox row as a watcher sees it. */
export interface WatchedEventRow {
  seq: number;
  id: string;
  event_type: string;
  path: string | null;
  data: unknown;
  created_at: Date;
}

/** A tenant's events of the given types after `afterSeq`, in seq (= commit) order; `prefix` filters paths. */
export async function readTenantEvents(
  exec: Executor,
  q: { tenantId: string; afterSeq: number; types: readonly string[]; prefix?: string; limit: number },
): Promise<WatchedEventRow[]> {
  let query = exec
    .selectFrom("events")
    .select(["seq", "id", "event_type", "path", "data", "created_at"])
    .where("tenant_id", "=", q.tenantId)
    .where("seq", ">", q.afterSeq)
    .where("event_type", "in", [...q.types]);
  if (q.prefix) query = query.where(sql<boolean>`left(path, ${q.prefix.length}) = ${q.prefix}`);
  return query.orderBy("seq").limit(q.limit).execute() as Promise<WatchedEventRow[]>;
}

/** The newest seq of a tenant's events (0 when it has none). */
export async function latestTenantSeq(exec: Executor, tenantId: string): Promise<number> {
  const row = await exec.selectFrom("events").select((eb) => eb.fn.max("seq").as("seq")).where("tenant_id", "=", tenantId).executeTakeFirst();
  return Number(row?.seq ?? 0);
}

/** The seq of one of a tenant's events, by id; undefined when there is no such event (never written, or another tenant's). */
export async function findTenantEventSeq(exec: Executor, tenantId: string, id: string): Promise<number | undefined> {
  const row = await exec.selectFrom("events").select("seq").where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
  return row ? Number(row.seq) : undefined;
}
