import { sql } from "kysely";
import type { Db } from "../db/database.js";

/** What the outbox holds right now, read at each scrape. */
export interface OutboxSnapshot {
  /** Events written but not yet fanned out to webhooks. */
  undispatchedEvents: number;
  /** Seconds since the oldest undispatched event was written (0 when none). */
  dispatchLagSeconds: number;
  /** Deliveries still to be sent or retried. */
  pendingDeliveries: number;
  /** Seconds the most overdue pending delivery has waited past its due time (0 when none is due). */
  deliveryLagSeconds: number;
}

/** Reads the outbox depth and lag; both queries use the partial indexes on pending rows. */
export async function readOutboxSnapshot(db: Db, now: Date): Promise<OutboxSnapshot> {
  const events = await db
    .selectFrom("events")
    .select([sql<number>`count(*)::int`.as("n"), sql<Date | null>`min(created_at)`.as("oldest")])
    .where("dispatched_at", "is", null)
    .executeTakeFirstOrThrow();
  const deliveries = await db
    .selectFrom("webhook_deliveries")
    .select([sql<number>`count(*)::int`.as("n"), sql<Date | null>`min(next_attempt_at)`.as("oldest")])
    .where("state", "=", "pending")
    .executeTakeFirstOrThrow();
  const ageOf = (at: Date | string | null) => (at === null ? 0 : Math.max(0, (now.getTime() - new Date(at).getTime()) / 1000));
  return {
    undispatchedEvents: Number(events.n),
    dispatchLagSeconds: ageOf(events.oldest),
    pendingDeliveries: Number(deliveries.n),
    deliveryLagSeconds: ageOf(deliveries.oldest),
  };
}
