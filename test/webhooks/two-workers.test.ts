import { describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { createEnvelope } from "../../src/crypto/envelope.js";
import { loadMasterKey } from "../../src/crypto/master-key.js";
import { connectPostgres } from "../../src/db/database.js";
import { silentLogger } from "../../src/log.js";
import { createWebhookDelivery } from "../../src/webhooks/delivery-worker.js";
import { createAllowList } from "../../src/outbound/ssrf-guard.js";
import { createWebhookSender } from "../../src/outbound/webhook-sender.js";
import { listEvents } from "../../src/events/outbox-store.js";
import { generateWebhookSecret } from "../../src/webhooks/signature.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault } from "../support/vault.js";
import { startReceiver, webhookTestEnv } from "./receiver.js";

// Several replicas need a shared PostgreSQL; the embedded database has one process by design.
describe.skipIf(testDatabaseKind === "embedded")("two delivery workers against one PostgreSQL", () => {
  it("delivers each event once per webhook while both dispatch and deliver at the same time", async () => {
    const clock = createManualClock("2026-06-01T00:00:00Z");
    const secret = generateWebhookSecret();
    const receiver = await startReceiver({ secret, clock });
    const a = await startTestVault({ clock, env: { ...webhookTestEnv, SCAIVAULT_DB_POOL_SIZE: "20" } });
    // The second replica: its own connection pool and envelope, built with the app's factories
    // (a second whole app in this process would clash on its named cron jobs).
    const replica = connectPostgres(a.databaseUrl!, { poolSize: 20 });
    const masterKey = await loadMasterKey({ dataDir: a.dataDir, logger: silentLogger });
    const b = createWebhookDelivery({
      db: replica.db,
      envelope: createEnvelope(masterKey, replica.db),
      clock,
      logger: silentLogger,
      sender: createWebhookSender({ timeoutMs: 10_000, allow: createAllowList(["127.0.0.1"]) }),
    });
    try {
      const token = await a.token({ tenantId: "replicas", scopes: ["admin"] });
      for (const name of ["first", "second", "third"]) {
        const res = await a.rest("POST", "/v1/webhooks", { token, body: { name, url: `${receiver.url}?to=${name}`, secret, events: ["secret.created", "secret.updated"] } });
        expect(res.status).toBe(201);
      }
      const writes = Array.from({ length: 60 }, (_, i) => a.rest("PUT", `/v1/secrets/load/s${i % 20}`, { token, body: { data: { i } } }));
      expect((await Promise.all(writes)).every((r) => r.status < 300)).toBe(true);

      const worker = (w: typeof b) => async () => {
        for (let idle = 0; idle < 3; ) {
          const d = await w.runDispatchOnce();
          const r = await w.runDeliveryOnce();
          idle = d.events === 0 && r.claimed === 0 ? idle + 1 : 0;
        }
      };
      await Promise.all([worker(a.vault.webhookDelivery)(), worker(b)(), worker(a.vault.webhookDelivery)(), worker(b)()]);

      const events = await listEvents(a.vault.db, "replicas");
      expect(events).toHaveLength(60);
      const expected = events.flatMap((e) => ["first", "second", "third"].map((h) => `${e.id} wh_${h}`)).sort();
      const deliveries = await a.vault.db.selectFrom("webhook_deliveries").select(["event_id", "webhook_id", "state", "attempts"]).where("tenant_id", "=", "replicas").execute();
      expect(deliveries.map((d) => `${d.event_id} ${d.webhook_id}`).sort()).toEqual(expected);
      expect(deliveries.every((d) => d.state === "delivered" && d.attempts === 1)).toBe(true);
      const attempts = await a.vault.db.selectFrom("webhook_attempts").select(["event_id", "webhook_id"]).where("tenant_id", "=", "replicas").execute();
      expect(attempts).toHaveLength(180);
      // Each (event, webhook) arrived exactly once; the receiver verified every signature.
      expect(receiver.received).toHaveLength(180);
      expect(receiver.received.every((d) => d.verifyError === undefined && d.status === 200)).toBe(true);
      const received = receiver.received.map((d) => `${d.id} wh_${new URL(d.target, "http://127.0.0.1").searchParams.get("to")}`).sort();
      expect(received).toEqual(expected);
    } finally {
      await replica.close();
      await a.close();
      await receiver.close();
    }
  });
});
