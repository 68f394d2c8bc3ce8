import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { inTransaction } from "../../src/db/database.js";
import { appendEvents, listEvents } from "../../src/events/outbox-store.js";
import { decodeWebhookSecret, generateWebhookSecret } from "../../src/webhooks/signature.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { webhookTestEnv } from "./receiver.js";

describe("webhooks API over REST and gRPC", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault({ clock, env: webhookTestEnv });
    token = await tv.token({ tenantId: "acme", scopes: ["admin"] });
  });
  afterAll(async () => tv?.close());

  const create = (body: unknown, t = token) => tv.rest("POST", "/v1/webhooks", { token: t, body });

  it("creates a webhook: 201, wh_<name>, the generated secret once", async () => {
    const res = await create({ name: "rotation_alerts", url: "http://127.0.0.1:9/hook", events: ["rotation.due", "rotation.failed"] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: "wh_rotation_alerts",
      name: "rotation_alerts",
      url: "http://127.0.0.1:9/hook",
      events: ["rotation.due", "rotation.failed"],
      is_active: true,
      created_at: "2026-04-23T14:00:00Z",
    });
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(decodeWebhookSecret(res.body.secret)).toHaveLength(32);

    const got = await tv.rest("GET", "/v1/webhooks/wh_rotation_alerts", { token });
    expect(got.status).toBe(200);
    expect(got.body.id).toBe("wh_rotation_alerts");
    expect("secret" in got.body).toBe(false);
  });

  it("never returns a supplied secret, and stores it only encrypted", async () => {
    const secret = generateWebhookSecret(48);
    const res = await create({ name: "oauth-rotation-handler", url: "http://127.0.0.1:9/rotate", secret, events: ["rotation.due"] });
    expect(res.status).toBe(201);
    expect("secret" in res.body).toBe(false);
    const listed = await tv.rest("GET", "/v1/webhooks", { token });
    expect(JSON.stringify(listed.body)).not.toContain(secret.slice(6));
    const patched = await tv.rest("PATCH", "/v1/webhooks/wh_oauth-rotation-handler", { token, body: { secret: generateWebhookSecret() } });
    expect(patched.status).toBe(200);
    expect("secret" in patched.body).toBe(false);

    const row = await tv.vault.db.selectFrom("webhooks").selectAll().where("id", "=", "wh_oauth-rotation-handler").executeTakeFirstOrThrow();
    const key = decodeWebhookSecret(secret);
    const stored = Buffer.concat([Buffer.from(row.secret_ciphertext), Buffer.from(row.secret_nonce), Buffer.from(JSON.stringify(row))]);
    expect(stored.includes(key)).toBe(false);
    expect(stored.includes(Buffer.from(secret))).toBe(false);
  });

  it("refuses malformed secrets, names, URLs and event types with invalid_request", async () => {
    const cases: [string, unknown][] = [
      ["no prefix", { name: "a1", url: "http://127.0.0.1:9/", secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }],
      ["too short", { name: "a2", url: "http://127.0.0.1:9/", secret: "whsec_" + Buffer.alloc(16, 1).toString("base64") }],
      ["too long", { name: "a3", url: "http://127.0.0.1:9/", secret: "whsec_" + Buffer.alloc(65, 1).toString("base64") }],
      ["not base64", { name: "a4", url: "http://127.0.0.1:9/", secret: "whsec_not*base64*at*all*not*base64*at*all" }],
      ["empty secret", { name: "a5", url: "http://127.0.0.1:9/", secret: "" }],
      ["upper-case name", { name: "Alerts", url: "http://127.0.0.1:9/" }],
      ["long name", { name: "x".repeat(65), url: "http://127.0.0.1:9/" }],
      ["missing name", { url: "http://127.0.0.1:9/" }],
      ["missing url", { name: "a6" }],
      ["ftp url", { name: "a7", url: "ftp://127.0.0.1/x" }],
      ["relative url", { name: "a8", url: "/hook" }],
      ["credentials in url", { name: "a9", url: "http://user:pass@127.0.0.1:9/" }],
      ["unknown event", { name: "a10", url: "http://127.0.0.1:9/", events: ["secret.read"] }],
      ["ping is not subscribable", { name: "a11", url: "http://127.0.0.1:9/", events: ["ping"] }],
      ["events not a list", { name: "a12", url: "http://127.0.0.1:9/", events: "rotation.due" }],
    ];
    for (const [label, body] of cases) {
      const res = await create(body);
      expect({ label, status: res.status, code: res.body?.error?.code }).toEqual({ label, status: 400, code: "invalid_request" });
    }
    const badPatch = await tv.rest("PATCH", "/v1/webhooks/wh_rotation_alerts", { token, body: { events: ["rotation.due", 7] } });
    expect(badPatch.body.error.code).toBe("invalid_request");
    const badSecret = await tv.rest("PATCH", "/v1/webhooks/wh_rotation_alerts", { token, body: { secret: "whsec_abc" } });
    expect(badSecret.body.error.code).toBe("invalid_request");
  });

  it("refuses loopback, private, link-local and metadata targets at create and patch unless allow-listed", async () => {
    // 127.0.0.1 is allow-listed here, so the numeric forms spell 127.0.0.2.
    const refused = [
      "http://127.0.0.2:9/hook",
      "http://localhost:9/hook",
      "http://2130706434/hook",
      "http://0x7f000002/hook",
      "http://0177.0.0.2/hook",
      "http://127.2/hook",
      "http://[::1]:9/hook",
      "http://[::ffff:127.0.0.2]/hook",
      "http://10.0.0.5/hook",
      "http://172.16.3.4/hook",
      "http://192.168.1.1/hook",
      "http://100.64.0.1/hook",
      "http://169.254.169.254/latest/meta-data/",
      "http://[fd00:ec2::254]/",
      "http://[fe80::1]/",
      "http://[fc00::1]/",
      "http://0.0.0.0/",
      "http://224.0.0.1/",
    ];
    for (const url of refused) {
      const res = await create({ name: "ssrf", url, events: ["secret.created"] });
      expect({ url, status: res.status, code: res.body?.error?.code }).toEqual({ url, status: 400, code: "invalid_request" });
      expect(res.body.error.message).toMatch(/SCAIVAULT_WEBHOOK_ALLOW_HOSTS/);
    }
    const patch = await tv.rest("PATCH", "/v1/webhooks/wh_rotation_alerts", { token, body: { url: "http://192.168.0.10/x" } });
    expect(patch.status).toBe(400);
    expect(patch.body.error.message).toMatch(/192\.168\.0\.10 is a private address/);
    // 127.0.0.1 is allow-listed on this server.
    const allowed = await tv.rest("PATCH", "/v1/webhooks/wh_rotation_alerts", { token, body: { url: "http://127.0.0.1:10/x" } });
    expect(allowed.status).toBe(200);
    expect(allowed.body.url).toBe("http://127.0.0.1:10/x");
  });

  it("name_conflict on a duplicate name (409), also over gRPC as ALREADY_EXISTS", async () => {
    const res = await create({ name: "rotation_alerts", url: "http://127.0.0.1:9/other" });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("name_conflict");
    expect(res.body.error.request_id).toBeTruthy();
  });

  it("webhook_not_found over REST for get, patch, delete, deliveries and test, and over gRPC", async () => {
    for (const [method, path, body] of [
      ["GET", "/v1/webhooks/wh_nope"],
      ["PATCH", "/v1/webhooks/wh_nope", { is_active: false }],
      ["DELETE", "/v1/webhooks/wh_nope"],
      ["GET", "/v1/webhooks/wh_nope/deliveries"],
      ["POST", "/v1/webhooks/wh_nope/test"],
    ] as const) {
      const res = await tv.rest(method, path, { token, body });
      expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({ method, path, status: 404, code: "webhook_not_found" });
    }
    const client = grpcClient(tv.port, "WebhookService", "webhooks.proto");
    try {
      const err = await unary(client, "GetWebhook", { id: "wh_nope" }, token).catch((e) => e);
      expect(err.code).toBe(5); // NOT_FOUND
      expect(reasonOf(err)).toBe("webhook_not_found");
      const dup = await unary(client, "CreateWebhook", { name: "rotation_alerts", url: "http://127.0.0.1:9/" }, token).catch((e) => e);
      expect(dup.code).toBe(6); // ALREADY_EXISTS
      expect(reasonOf(dup)).toBe("name_conflict");
      const got = await unary(client, "GetWebhook", { id: "wh_rotation_alerts" }, token);
      expect(got.name).toBe("rotation_alerts");
      expect(got.secret).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it("keeps tenants apart: another tenant's token sees webhook_not_found", async () => {
    const other = await tv.token({ tenantId: "globex", scopes: ["admin"] });
    const res = await tv.rest("GET", "/v1/webhooks/wh_rotation_alerts", { token: other });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("webhook_not_found");
    const list = await tv.rest("GET", "/v1/webhooks", { token: other });
    expect(list.body).toEqual({ data: [], cursor: null, has_more: false });
    const del = await tv.rest("DELETE", "/v1/webhooks/wh_rotation_alerts", { token: other });
    expect(del.body.error.code).toBe("webhook_not_found");
  });

  it("requires the admin scope", async () => {
    const reader = await tv.token({ tenantId: "acme", scopes: ["secrets:read", "secrets:write"] });
    const res = await tv.rest("GET", "/v1/webhooks", { token: reader });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("access_denied");
  });

  it("pages the list with a cursor", async () => {
    for (const n of ["p1", "p2", "p3"]) expect((await create({ name: n, url: "http://127.0.0.1:9/" })).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : "?limit=2";
      const res = await tv.rest("GET", `/v1/webhooks${q}`, { token });
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      for (const w of res.body.data) {
        expect("secret" in w).toBe(false);
        seen.push(w.id);
      }
      expect(res.body.has_more).toBe(res.body.cursor !== null);
      cursor = res.body.cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(["wh_oauth-rotation-handler", "wh_p1", "wh_p2", "wh_p3", "wh_rotation_alerts"]);
    expect(pages).toBe(3);
    const bad = await tv.rest("GET", "/v1/webhooks?cursor=not-a-cursor", { token });
    expect(bad.body.error.code).toBe("invalid_request");
  });

  it("patches only the fields given and deletes", async () => {
    clock.advance(60_000);
    const res = await tv.rest("PATCH", "/v1/webhooks/wh_p1", { token, body: { events: ["secret.created"], is_active: false } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: "wh_p1", url: "http://127.0.0.1:9/", events: ["secret.created"], is_active: false, updated_at: "2026-04-23T14:01:00Z" });
    const del = await tv.rest("DELETE", "/v1/webhooks/wh_p1", { token });
    expect(del.body).toEqual({ id: "wh_p1", deleted: true });
    expect((await tv.rest("GET", "/v1/webhooks/wh_p1", { token })).status).toBe(404);
    // A deleted name can be registered again.
    expect((await create({ name: "p1", url: "http://127.0.0.1:9/" })).status).toBe(201);
  });

  it("outbox atomicity: a rolled-back change emits nothing, a committed one exactly one event and one delivery", async () => {
    const db = tv.vault.db;
    const hook = await create({ name: "atomic", url: "http://127.0.0.1:9/", events: ["secret.created", "secret.updated"] });
    expect(hook.status).toBe(201);
    const before = (await listEvents(db, "acme")).length;

    // A failed API write (check-and-set mismatch) rolls back, with its event.
    const failed = await tv.rest("PUT", "/v1/secrets/app/atomic", { token, body: { data: { v: 1 }, options: { cas: 3 } } });
    expect(failed.body.error.code).toBe("version_conflict");
    // A transaction that appends and then fails.
    await expect(
      inTransaction(db, async (tx) => {
        await appendEvents(tx, [{ tenantId: "acme", eventType: "secret.updated", path: "app/atomic", data: {}, createdAt: clock.now() }]);
        throw new Error("rolled back on purpose");
      }),
    ).rejects.toThrow("rolled back on purpose");
    expect((await listEvents(db, "acme")).length).toBe(before);
    await tv.vault.webhookDelivery.runDispatchOnce();
    const none = await db.selectFrom("webhook_deliveries").select("event_id").where("webhook_id", "=", "wh_atomic").execute();
    expect(none).toEqual([]);

    const ok = await tv.rest("PUT", "/v1/secrets/app/atomic", { token, body: { data: { v: 1 } } });
    expect(ok.status).toBe(201);
    const after = await listEvents(db, "acme");
    expect(after.length).toBe(before + 1);
    expect(after[after.length - 1]).toMatchObject({ event_type: "secret.created", path: "app/atomic" });
    await tv.vault.webhookDelivery.runDispatchOnce();
    await tv.vault.webhookDelivery.runDispatchOnce();
    const one = await db.selectFrom("webhook_deliveries").select("event_id").where("webhook_id", "=", "wh_atomic").execute();
    expect(one.map((d) => d.event_id)).toEqual([after[after.length - 1]!.id]);
  });

  it("queues a ping for a test call and refuses to test a disabled webhook", async () => {
    const res = await tv.rest("POST", "/v1/webhooks/wh_atomic/test", { token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ queued: true });
    expect(res.body.event_id).toMatch(/^evt_[0-9a-f]{32}$/);
    const queued = await tv.vault.db.selectFrom("webhook_deliveries").selectAll().where("event_id", "=", res.body.event_id).execute();
    expect(queued.map((d) => d.webhook_id)).toEqual(["wh_atomic"]);
    await tv.rest("PATCH", "/v1/webhooks/wh_atomic", { token, body: { is_active: false } });
    const disabled = await tv.rest("POST", "/v1/webhooks/wh_atomic/test", { token });
    expect(disabled.status).toBe(400);
    expect(disabled.body.error.code).toBe("invalid_request");
  });
});
