import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startTestVault, type TestVault } from "../support/vault.js";

const DAY = 24 * 3600 * 1000;

describe("retention purge over an injected clock", () => {
  const clock = createManualClock("2030-06-01T00:00:00Z");
  let tv: TestVault;
  beforeAll(async () => {
    // A batch of 3 so every purge below needs several statements.
    tv = await startTestVault({ clock, env: { SCAIVAULT_RETENTION_BATCH: "3", SCAIVAULT_AUDIT_RETENTION: "2557d", SCAIVAULT_EVENT_RETENTION: "30d", SCAIVAULT_SCHEDULER_ENABLED: "false" } });
  });
  afterAll(async () => tv?.close());

  const daysAgo = (days: number) => new Date(clock.now().getTime() - days * DAY);
  const count = async (table: "audit_events" | "events" | "webhook_deliveries" | "webhook_attempts") =>
    Number((await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(tv.vault.db)).rows[0]!.n);

  it("purges audit entries after 7 years and events, finished deliveries and attempts after 30 days, nothing younger", async () => {
    const { db } = tv.vault;
    await db.deleteFrom("audit_events").execute();
    await db.deleteFrom("events").execute();
    await db.deleteFrom("webhook_deliveries").execute();
    const audit = (time: Date, i: number) => ({ time, request_id: `r${i}`, actor: "a", acting_tenant: "t", target_tenant: "t", action: "GetSecret", path: "p", version: 1, outcome: "allowed", client_address: null });
    // 8 entries past 7 years, 4 just inside it.
    await db.insertInto("audit_events").values([...Array.from({ length: 8 }, (_, i) => audit(daysAgo(2600 + i), i)), ...Array.from({ length: 4 }, (_, i) => audit(daysAgo(2500 - i), 100 + i))]).execute();

    const event = (id: string, createdAt: Date, dispatched: boolean) => ({ id, tenant_id: "t", event_type: "secret.created", path: "p", policy_id: null, data: JSON.stringify({}), created_at: createdAt, dispatched_at: dispatched ? createdAt : null });
    await db.insertInto("events").values([
      ...Array.from({ length: 7 }, (_, i) => event(`evt_old${i}`, daysAgo(40 + i), true)),
      event("evt_old_undispatched", daysAgo(45), false),
      event("evt_new", daysAgo(5), true),
    ]).execute();
    const delivery = (eventId: string, state: string, createdAt: Date) => ({ tenant_id: "t", webhook_id: "wh_x", event_id: eventId, state, attempts: 1, next_attempt_at: createdAt, created_at: createdAt });
    const deliveries = await db
      .insertInto("webhook_deliveries")
      .values([
        ...Array.from({ length: 5 }, (_, i) => delivery(`evt_old${i}`, i % 2 ? "failed" : "delivered", daysAgo(40 + i))),
        delivery("evt_old5", "pending", daysAgo(40)),
        delivery("evt_new", "delivered", daysAgo(5)),
      ])
      .returning(["id", "event_id"])
      .execute();
    const attempt = (deliveryId: number, eventId: string, at: Date) => ({ delivery_id: deliveryId, tenant_id: "t", webhook_id: "wh_x", event_id: eventId, event_type: "secret.created", attempt: 1, attempted_at: at, status_code: 500, latency_ms: 3, error: "HTTP 500", next_retry_at: null, state: "failed" });
    const pending = deliveries.find((d) => d.event_id === "evt_old5")!;
    const fresh = deliveries.find((d) => d.event_id === "evt_new")!;
    await db
      .insertInto("webhook_attempts")
      .values([
        ...deliveries.filter((d) => d !== fresh).map((d) => attempt(Number(d.id), d.event_id, daysAgo(40))),
        attempt(Number(pending.id), pending.event_id, daysAgo(1)),
        attempt(Number(fresh.id), fresh.event_id, daysAgo(5)),
      ])
      .execute();

    const run = await tv.vault.retention.purgeOnce();
    expect(run).toEqual({ auditEntries: 8, events: 7, deliveries: 5, attempts: 6 });
    expect(await count("audit_events")).toBe(4);
    // Kept: the undispatched event (it still has to go out) and the recent one.
    expect((await db.selectFrom("events").select("id").orderBy("id").execute()).map((e) => e.id)).toEqual(["evt_new", "evt_old_undispatched"]);
    // Kept: the delivery still pending (even though old) and the recent one, with their recent attempts.
    expect((await db.selectFrom("webhook_deliveries").select("event_id").orderBy("event_id").execute()).map((d) => d.event_id)).toEqual(["evt_new", "evt_old5"]);
    expect(await count("webhook_attempts")).toBe(2);

    // Nothing more to do: a second run deletes nothing; moving the clock on makes the rest due.
    expect(await tv.vault.retention.purgeOnce()).toEqual({ auditEntries: 0, events: 0, deliveries: 0, attempts: 0 });
    clock.advance(200 * DAY);
    const later = await tv.vault.retention.purgeOnce();
    expect(later.auditEntries).toBe(4);
    expect(later.attempts).toBe(2);
  });
});
