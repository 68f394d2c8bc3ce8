import { describe, expect, it } from "vitest";
import { verifyWebhook, type WebhookEvent } from "../../clients/typescript/src/index.js";
import { generateWebhookSecret, webhookHeaders } from "../../src/webhooks/signature.js";

// The client's verifier (WebCrypto) against the service's signer (node:crypto): two
// implementations of Standard Webhooks that must agree.
describe("verifyWebhook", () => {
  const secret = generateWebhookSecret();
  const now = new Date("2026-04-23T14:00:00Z");
  const timestamp = Math.floor(now.getTime() / 1000);
  const event: WebhookEvent = {
    id: "evt_1",
    event_type: "rotation.due",
    created_at: now.toISOString(),
    tenant_id: "t1",
    path: "app/db",
    data: { policy_id: "rot_quarterly", due_now: true },
  };
  const body = JSON.stringify(event);

  it("accepts what the service signs, from a string or bytes, with Fetch or Node headers", async () => {
    const headers = webhookHeaders(secret, "msg_1", timestamp, body);
    expect(await verifyWebhook(secret, headers, body, { now })).toEqual(event);
    expect(await verifyWebhook(secret, new Headers(headers), new TextEncoder().encode(body), { now })).toEqual(event);
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(await verifyWebhook(secret, upper, body, { now: now.getTime() + 299_000 })).toEqual(event);
  });

  it("accepts any one of several signatures (secret rotation)", async () => {
    const headers = webhookHeaders(secret, "msg_2", timestamp, body);
    const old = webhookHeaders(generateWebhookSecret(), "msg_2", timestamp, body)["webhook-signature"];
    headers["webhook-signature"] = `${old} ${headers["webhook-signature"]}`;
    expect(await verifyWebhook(secret, headers, body, { now })).toEqual(event);
  });

  it("rejects a changed body, another secret, an old timestamp and missing headers", async () => {
    const headers = webhookHeaders(secret, "msg_3", timestamp, body);
    const rejects = (promise: Promise<unknown>, code = "invalid_signature") => expect(promise).rejects.toMatchObject({ name: "ScaiVaultError", code });
    await rejects(verifyWebhook(secret, headers, body.replace("t1", "t2"), { now }));
    await rejects(verifyWebhook(generateWebhookSecret(), headers, body, { now }));
    await rejects(verifyWebhook(secret, headers, body, { now: now.getTime() + 301_000 }));
    await rejects(verifyWebhook(secret, { ...headers, "webhook-id": "msg_other" }, body, { now }));
    await rejects(verifyWebhook(secret, { "webhook-id": "msg_3" }, body, { now }));
    await rejects(verifyWebhook(secret, { ...headers, "webhook-signature": "v2,abc" }, body, { now }));
    await rejects(verifyWebhook("not-a-secret", headers, body, { now }), "invalid_webhook_secret");
  });
});
