import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { inTransaction } from "../../src/db/database.js";
import { appendEvents, listEvents } from "../../src/events/outbox-store.js";
import { maxDeliveryAttempts, retryDelaysSeconds, retryJitter } from "../../src/outbound/retry-schedule.js";
import { generateWebhookSecret, verifyWebhook, WebhookVerificationError } from "../../src/webhooks/signature.js";
import { claimDueDeliveries, recordAttempt } from "../../src/outbound/delivery-queue.js";
import { webhookQueue } from "../../src/webhooks/webhooks-store.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { drain, startReceiver, webhookTestEnv, type Receiver } from "./receiver.js";

const SECOND = 1000;

/** The attempt log of a webhook, oldest first. */
async function attemptsOf(tv: TestVault, token: string, webhookId: string) {
  const res = await tv.rest("GET", `/v1/webhooks/${webhookId}/deliveries?limit=200`, { token });
  expect(res.status).toBe(200);
  return (res.body.data as any[]).slice().reverse();
}

describe("webhook delivery against a real receiver on 127.0.0.1", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  const secret = generateWebhookSecret();
  let tv: TestVault;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    tv = await startTestVault({ clock, env: webhookTestEnv });
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await tv?.close();
  });

  /** A tenant of its own with one webhook to a fresh receiver. */
  async function setup(tenant: string, events = ["secret.created", "secret.updated", "secret.deleted"]) {
    const token = await tv.token({ tenantId: tenant, scopes: ["admin"] });
    const receiver = await startReceiver({ secret, clock });
    receivers.push(receiver);
    const res = await tv.rest("POST", "/v1/webhooks", { token, body: { name: "hook", url: receiver.url, secret, events } });
    expect(res.status).toBe(201);
    return { token, receiver, id: res.body.id as string };
  }

  it("signs every delivery so the receiver verifies it; a tampered body or an old timestamp fails", async () => {
    const { token, receiver, id } = await setup("sig");
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    for (const p of ["app/one", "app/two", "app/three"]) {
      expect((await tv.rest("PUT", `/v1/secrets/${p}`, { token, body: { data: { password: canary } } })).status).toBe(201);
    }
    await tv.rest("DELETE", "/v1/secrets/app/three", { token });
    await drain(tv);
    const outbox = await listEvents(tv.vault.db, "sig");
    expect(receiver.received).toHaveLength(4);
    for (const d of receiver.received) {
      expect(d.verifyError).toBeUndefined();
      expect(Object.keys(d.event)).toEqual(["id", "event_type", "created_at", "tenant_id", "path", "data"]);
      expect(d.id).toBe(d.event.id);
      expect(d.timestamp).toBe(Math.floor(clock.now().getTime() / 1000));
      expect(d.event.tenant_id).toBe("sig");
      expect(d.event.created_at).toBe("2026-04-23T14:00:00Z");
      expect(d.body).not.toContain(canary);
      expect(d.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    }
    // Deliveries of one round go out concurrently: no order is promised.
    expect(receiver.received.map((d) => d.event.event_type).sort()).toEqual(["secret.created", "secret.created", "secret.created", "secret.deleted"]);
    expect(new Set(receiver.received.map((d) => d.id))).toEqual(new Set(outbox.map((e) => e.id)));

    const sample = receiver.received.find((d) => d.event.path === "app/one")!;
    const headers = { "webhook-id": sample.id, "webhook-timestamp": String(sample.timestamp), "webhook-signature": sample.signature };
    const now = clock.now();
    expect(verifyWebhook<any>(secret, headers, sample.body, { now }).path).toBe("app/one");
    const tampered = sample.body.replace("app/one", "app/evil");
    expect(() => verifyWebhook(secret, headers, tampered, { now })).toThrow(expect.objectContaining({ code: "no_matching_signature" }));
    const later = new Date(now.getTime() + 6 * 60 * SECOND);
    expect(() => verifyWebhook(secret, headers, sample.body, { now: later })).toThrowError(WebhookVerificationError);
    expect(() => verifyWebhook(secret, headers, sample.body, { now: later })).toThrow(expect.objectContaining({ code: "timestamp_out_of_tolerance" }));
    expect(() => verifyWebhook(generateWebhookSecret(), headers, sample.body, { now })).toThrow(expect.objectContaining({ code: "no_matching_signature" }));

    const log = await attemptsOf(tv, token, id);
    expect(log).toHaveLength(4);
    for (const a of log) {
      expect(a).toMatchObject({ attempt: 1, status_code: 200, state: "delivered", next_retry_at: null });
      // Recorded as whole milliseconds (how long the receiver took is covered by the sender's test).
      expect(Number.isInteger(a.latency_ms)).toBe(true);
      expect(a.error).toBeUndefined();
      expect(a.attempted_at).toBe("2026-04-23T14:00:00Z");
    }
  });

  it("receiver down (500s, then connection refused), then up: every event delivered, retries on schedule, duplicates share webhook-id", async () => {
    const { token, receiver, id } = await setup("down");
    receiver.respond(() => ({ status: 500 }));
    for (let i = 0; i < 5; i++) await tv.rest("PUT", `/v1/secrets/svc/s${i}`, { token, body: { data: { v: i } } });
    const eventIds = (await listEvents(tv.vault.db, "down")).map((e) => e.id);
    expect(eventIds).toHaveLength(5);

    const step = async (attempt: number) => {
      const before = clock.now().getTime();
      await drain(tv);
      const log = await attemptsOf(tv, token, id);
      const latest = log.filter((a) => a.attempt === attempt);
      expect(latest).toHaveLength(5);
      for (const a of latest) {
        expect(a.state).toBe("retrying");
        const delay = Date.parse(a.next_retry_at) - before;
        const expected = retryDelaysSeconds[attempt - 1]! * SECOND;
        expect(delay).toBeGreaterThanOrEqual(expected * (1 - retryJitter) - SECOND);
        expect(delay).toBeLessThanOrEqual(expected * (1 + retryJitter) + SECOND);
      }
      return latest;
    };
    const advancePast = (attempt: number) => clock.advance(Math.ceil(retryDelaysSeconds[attempt - 1]! * (1 + retryJitter)) * SECOND + SECOND);

    const first = await step(1);
    expect(first.length).toBeGreaterThan(0);
    expect(first.every((a) => a.status_code === 500 && a.error === "HTTP 500")).toBe(true);
    // Not due yet: nothing is sent before the backoff ends.
    clock.advance(2 * SECOND);
    expect((await drain(tv)).attempts).toBe(0);
    advancePast(1);
    await step(2);
    await receiver.close();
    advancePast(2);
    const refused = await step(3);
    expect(refused.length).toBeGreaterThan(0);
    // Our own words, not the runtime's message (which names the address).
    expect(refused.every((a) => a.status_code === undefined && a.error === "connection refused")).toBe(true);
    advancePast(3);
    await step(4);
    await receiver.reopen();
    receiver.respond(() => ({ status: 204 }));
    advancePast(4);
    await drain(tv);

    const log = await attemptsOf(tv, token, id);
    expect(log).toHaveLength(25);
    expect(log.filter((a) => a.state === "delivered").map((a) => a.event_id).sort()).toEqual([...eventIds].sort());
    // Received: two 500s and one success per event (the refused attempts never arrived).
    expect(receiver.received).toHaveLength(15);
    for (const eventId of eventIds) {
      const copies = receiver.received.filter((d) => d.id === eventId);
      expect(copies.map((d) => d.status)).toEqual([500, 500, 204]);
      expect(new Set(copies.map((d) => d.body)).size).toBe(1);
      expect(new Set(copies.map((d) => d.timestamp)).size).toBe(3);
      expect(copies.every((d) => d.verifyError === undefined && d.event.id === eventId)).toBe(true);
    }
    expect((await drain(tv)).attempts).toBe(0);
  });

  it("gives up after the last retry (about a day and a half): the delivery is failed and visible in the log", async () => {
    const { token, receiver, id } = await setup("gives-up");
    receiver.respond(() => ({ status: 502 }));
    await tv.rest("PUT", "/v1/secrets/doomed", { token, body: { data: { v: 1 } } });
    for (let i = 0; i < maxDeliveryAttempts + 2; i++) {
      await drain(tv);
      clock.advance(25 * 3600 * SECOND);
    }
    const fresh = await tv.token({ tenantId: "gives-up", scopes: ["admin"] }); // the first one expired days ago
    const log = await attemptsOf(tv, fresh, id);
    expect(log.map((a) => a.attempt)).toEqual(Array.from({ length: maxDeliveryAttempts }, (_, i) => i + 1));
    expect(log.slice(0, -1).every((a) => a.state === "retrying")).toBe(true);
    expect(log[log.length - 1]).toMatchObject({ state: "failed", status_code: 502, error: "HTTP 502", next_retry_at: null });
    expect(receiver.received).toHaveLength(maxDeliveryAttempts);
    const row = await tv.vault.db.selectFrom("webhook_deliveries").selectAll().where("tenant_id", "=", "gives-up").executeTakeFirstOrThrow();
    expect(row.state).toBe("failed");
    // The endpoint stays enabled: only 410 turns it off.
    expect((await tv.rest("GET", `/v1/webhooks/${id}`, { token: fresh })).body.is_active).toBe(true);
  });

  it("honours Retry-After", async () => {
    const { token, receiver, id } = await setup("retry-after");
    receiver.respond(() => ({ status: 503, headers: { "retry-after": "900" } }));
    await tv.rest("PUT", "/v1/secrets/slow", { token, body: { data: { v: 1 } } });
    const start = clock.now().getTime();
    await drain(tv);
    const [a] = await attemptsOf(tv, token, id);
    expect(Date.parse(a.next_retry_at) - start).toBe(900 * SECOND);
    receiver.respond(() => ({ status: 200 }));
    clock.advance(60 * SECOND);
    expect((await drain(tv)).attempts).toBe(0);
    clock.advance(900 * SECOND);
    expect((await drain(tv)).attempts).toBe(1);
    expect(receiver.received.map((d) => d.status)).toEqual([503, 200]);
  });

  it("410 Gone disables the webhook and fails the delivery; later events are not queued for it", async () => {
    const { token, receiver, id } = await setup("gone");
    receiver.respond(() => ({ status: 410 }));
    await tv.rest("PUT", "/v1/secrets/a", { token, body: { data: { v: 1 } } });
    await drain(tv);
    const [a] = await attemptsOf(tv, token, id);
    expect(a).toMatchObject({ state: "failed", status_code: 410, next_retry_at: null });
    expect((await tv.rest("GET", `/v1/webhooks/${id}`, { token })).body.is_active).toBe(false);
    await tv.rest("PUT", "/v1/secrets/a", { token, body: { data: { v: 2 } } });
    clock.advance(3600 * SECOND);
    await drain(tv);
    expect(receiver.received).toHaveLength(1);
  });

  it("sends a signed ping for POST /v1/webhooks/{id}/test", async () => {
    const { token, receiver, id } = await setup("ping", []);
    const res = await tv.rest("POST", `/v1/webhooks/${id}/test`, { token });
    expect(res.body.queued).toBe(true);
    await drain(tv);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.event).toMatchObject({ id: res.body.event_id, event_type: "ping", tenant_id: "ping", path: null, data: { webhook_id: id } });
    const [a] = await attemptsOf(tv, token, id);
    expect(a).toMatchObject({ event_id: res.body.event_id, event_type: "ping", state: "delivered" });
  });

  it("routes policy events to the policy's webhooks and to subscribers only; inactive and later webhooks get nothing", async () => {
    const token = await tv.token({ tenantId: "routing", scopes: ["admin"] });
    const receiver = await startReceiver({ secret, clock, path: "/any" });
    receivers.push(receiver);
    const mk = async (name: string, events: string[], extra: Record<string, unknown> = {}) => {
      const res = await tv.rest("POST", "/v1/webhooks", { token, body: { name, url: `${receiver.url}?hook=${name}`, secret, events, ...extra } });
      expect(res.status).toBe(201);
    };
    await mk("attached", []);
    await mk("subscriber", ["rotation.due"]);
    await mk("bystander", ["secret.created"]);
    await mk("disabled", ["rotation.due"], { is_active: false });
    const now = clock.now();
    await tv.vault.db
      .insertInto("rotation_policies")
      .values({
        tenant_id: "routing", id: "rot_p", name: "p", description: null, interval: "90d", interval_seconds: 7776000, grace_period: "48h", grace_period_seconds: 172800,
        warn_before: null, warn_before_seconds: [], auto_generate: false, secret_policy_id: null, webhook_ids: ["wh_attached"], is_active: true, created_at: now, updated_at: now,
      })
      .execute();
    await inTransaction(tv.vault.db, (tx) =>
      appendEvents(tx, [
        { tenantId: "routing", eventType: "rotation.completed", path: "x", policyId: "rot_p", data: { old_version: 1, new_version: 2 }, createdAt: now },
        { tenantId: "routing", eventType: "rotation.due", path: "x", policyId: "rot_other", data: { due_now: true }, createdAt: now },
      ]),
    );
    clock.advance(SECOND);
    await mk("latecomer", ["rotation.due", "rotation.completed"]);
    await drain(tv);
    expect(receiver.received.map((d) => d.event.event_type).sort()).toEqual(["rotation.completed", "rotation.due"]);
    const rows = await tv.vault.db.selectFrom("webhook_deliveries").innerJoin("events", "events.id", "webhook_deliveries.event_id").select(["webhook_id", "event_type"]).where("webhook_deliveries.tenant_id", "=", "routing").orderBy("webhook_id").execute();
    expect(rows).toEqual([
      { webhook_id: "wh_attached", event_type: "rotation.completed" },
      { webhook_id: "wh_subscriber", event_type: "rotation.due" },
    ]);
  });

  it("fences a stalled worker: after its claim expired and another worker delivered, its result is not recorded", async () => {
    const { token, receiver, id } = await setup("stalled");
    await tv.rest("PUT", "/v1/secrets/s", { token, body: { data: { v: 1 } } });
    await tv.vault.webhookDelivery.runDispatchOnce();
    const db = tv.vault.db;
    const t0 = clock.now();
    const [stale] = await claimDueDeliveries(db, webhookQueue, t0, new Date(t0.getTime() + 60 * SECOND), 100).then((c) => c.filter((x) => x.tenant_id === "stalled"));
    expect(stale).toBeDefined();
    clock.advance(61 * SECOND);
    expect((await drain(tv)).attempts).toBe(1);
    const recorded = await inTransaction(db, (tx) => recordAttempt(tx, webhookQueue, stale!, "secret.created", { state: "retrying", attemptedAt: t0, latencyMs: 1, error: "late", nextRetryAt: clock.now() }));
    expect(recorded).toBe(false);
    const log = await attemptsOf(tv, token, id);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ attempt: 2, state: "delivered" });
    expect(receiver.received).toHaveLength(1);
  });
});

describe("restarts and send-time refusal", () => {
  it("resumes pending deliveries after a restart; refuses a loopback target outside the allow-list at send time", async () => {
    const clock = createManualClock("2026-05-01T00:00:00Z");
    const secret = generateWebhookSecret();
    const receiver = await startReceiver({ secret, clock });
    const first = await startTestVault({ clock, env: webhookTestEnv });
    const reuse = { dataDir: first.dataDir, databaseUrl: first.databaseUrl };
    let second: TestVault | undefined;
    let third: TestVault | undefined;
    try {
      const token = await first.token({ tenantId: "restart", scopes: ["admin"] });
      const created = await first.rest("POST", "/v1/webhooks", { token, body: { name: "hook", url: receiver.url, secret, events: ["secret.created"] } });
      expect(created.status).toBe(201);
      receiver.respond(() => ({ status: 500 }));
      await first.rest("PUT", "/v1/secrets/a", { token, body: { data: { v: 1 } } });
      await drain(first); // one failed attempt, retry pending
      await first.rest("PUT", "/v1/secrets/b", { token, body: { data: { v: 1 } } }); // in the outbox, not dispatched
      await first.stop();

      // Same database, the allow-list emptied: 127.0.0.1 is now refused before any connection.
      second = await startTestVault({ clock, reuse, env: { ...webhookTestEnv, SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "" } });
      receiver.respond(() => ({ status: 200 }));
      clock.advance(10 * SECOND);
      await drain(second);
      expect(receiver.received).toHaveLength(1); // only the first 500
      const refusedLog = await attemptsOf(second, token, "wh_hook");
      const refusals = refusedLog.filter((a) => a.error?.startsWith("refused:"));
      expect(refusals).toHaveLength(2);
      expect(refusals[0].error).toMatch(/127\.0\.0\.1 is a loopback address/);
      expect(refusals.every((a) => a.state === "retrying")).toBe(true);
      await second.stop();

      third = await startTestVault({ clock, reuse, env: webhookTestEnv });
      clock.advance(60 * SECOND);
      await drain(third);
      const events = await listEvents(third.vault.db, "restart");
      expect(events).toHaveLength(2);
      const delivered = receiver.received.filter((d) => d.status === 200).map((d) => d.id).sort();
      expect(delivered).toEqual(events.map((e) => e.id).sort());
      expect(receiver.received.every((d) => d.verifyError === undefined)).toBe(true);
    } finally {
      await third?.stop();
      await second?.stop();
      await first.close();
      await receiver.close();
    }
  });
});
