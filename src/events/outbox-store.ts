import { randomBytes } from "node:crypto";
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

/** Appends events in the caller's transaction, so they exist if and only if the change commits. */
export async function appendEvents(exec: Executor, events: OutboxEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
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
