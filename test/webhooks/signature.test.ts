import { describe, expect, it } from "vitest";
import {
  decodeWebhookSecret,
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
  WebhookVerificationError,
} from "../../src/webhooks/signature.js";
import { maxDeliveryAttempts, nextAttemptAt, parseRetryAfter, retryDelaysSeconds } from "../../src/outbound/retry-schedule.js";

describe("Standard Webhooks signatures", () => {
  it("matches the Standard Webhooks reference vector", () => {
    const sig = signWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
    expect(sig).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  const secret = generateWebhookSecret();
  const body = JSON.stringify({ id: "evt_1", event_type: "rotation.due", data: { due_now: true } });
  const now = 1_776_000_000;
  const headers = webhookHeaders(secret, "evt_1", now, body);

  it("verifies its own signature (string or bytes, Headers or a record) and returns the parsed body", () => {
    expect(verifyWebhook(secret, headers, body, { now: now * 1000 })).toEqual(JSON.parse(body));
    expect(verifyWebhook(decodeWebhookSecret(secret), new Headers(headers), Buffer.from(body), { now: new Date(now * 1000) })).toEqual(JSON.parse(body));
    const upper = { "Webhook-Id": headers["webhook-id"], "Webhook-Timestamp": headers["webhook-timestamp"], "Webhook-Signature": headers["webhook-signature"] };
    expect(verifyWebhook(secret, upper, body, { now: now * 1000 })).toBeTruthy();
  });

  it("accepts any one of several space-separated signatures (key rotation)", () => {
    const other = signWebhook(generateWebhookSecret(), "evt_1", now, body);
    const multi = { ...headers, "webhook-signature": `v2,abc ${other} ${headers["webhook-signature"]}` };
    expect(verifyWebhook(secret, multi, body, { now: now * 1000 })).toBeTruthy();
    expect(() => verifyWebhook(secret, { ...headers, "webhook-signature": other }, body, { now: now * 1000 })).toThrow(WebhookVerificationError);
  });

  const failures: [string, Record<string, string>, string, number, string][] = [
    ["tampered body", headers, body.replace("true", "false"), now, "no_matching_signature"],
    ["tampered id", { ...headers, "webhook-id": "evt_2" }, body, now, "no_matching_signature"],
    ["re-stamped timestamp", { ...headers, "webhook-timestamp": String(now + 1) }, body, now, "no_matching_signature"],
    ["timestamp 5 min + 1 s old", headers, body, now + 301, "timestamp_out_of_tolerance"],
    ["timestamp 5 min + 1 s ahead", headers, body, now - 301, "timestamp_out_of_tolerance"],
    ["missing signature", { "webhook-id": "evt_1", "webhook-timestamp": String(now) }, body, now, "missing_header"],
    ["non-numeric timestamp", { ...headers, "webhook-timestamp": "soon" }, body, now, "invalid_timestamp"],
    ["v0 scheme only", { ...headers, "webhook-signature": headers["webhook-signature"]!.replace("v1,", "v0,") }, body, now, "no_matching_signature"],
    ["truncated signature", { ...headers, "webhook-signature": headers["webhook-signature"]!.slice(0, 20) }, body, now, "no_matching_signature"],
  ];
  it.each(failures)("rejects: %s", (_label, h, b, at, code) => {
    expect(() => verifyWebhook(secret, h, b, { now: at * 1000 })).toThrow(expect.objectContaining({ code }));
  });

  it("accepts timestamps exactly at the ±5 minute edge", () => {
    expect(verifyWebhook(secret, headers, body, { now: (now + 300) * 1000 })).toBeTruthy();
    expect(verifyWebhook(secret, headers, body, { now: (now - 300) * 1000 })).toBeTruthy();
  });

  it("parses whsec_ secrets of 24 to 64 bytes only", () => {
    expect(decodeWebhookSecret(generateWebhookSecret(24))).toHaveLength(24);
    expect(decodeWebhookSecret(generateWebhookSecret(64))).toHaveLength(64);
    for (const bad of [
      "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      "whsec_",
      "whsec_" + Buffer.alloc(23).toString("base64"),
      "whsec_" + Buffer.alloc(65).toString("base64"),
      "whsec_" + Buffer.alloc(32).toString("base64url").replace(/A/g, "-"),
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw===",
      "whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ]) {
      expect(() => decodeWebhookSecret(bad), bad).toThrow(expect.objectContaining({ code: "invalid_secret" }));
    }
    expect(() => generateWebhookSecret(16)).toThrow(RangeError);
  });
});

describe("retry schedule", () => {
  it("waits about 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, 24 h, then gives up", () => {
    const at = new Date("2026-01-01T00:00:00Z");
    const gaps = retryDelaysSeconds.map((_, i) => (nextAttemptAt(i + 1, at, { random: () => 0.5 })!.getTime() - at.getTime()) / 1000);
    expect(gaps).toEqual([5, 30, 120, 600, 3600, 21600, 86400]);
    expect(nextAttemptAt(maxDeliveryAttempts, at)).toBeUndefined();
    expect((nextAttemptAt(1, at, { random: () => 0 })!.getTime() - at.getTime()) / 1000).toBeCloseTo(4.5);
    expect((nextAttemptAt(1, at, { random: () => 0.999999 })!.getTime() - at.getTime()) / 1000).toBeCloseTo(5.5);
  });

  it("waits at least as long as Retry-After asks, up to a day", () => {
    const at = new Date("2026-01-01T00:00:00Z");
    expect((nextAttemptAt(1, at, { random: () => 0.5, retryAfterSeconds: 120 })!.getTime() - at.getTime()) / 1000).toBe(120);
    expect((nextAttemptAt(5, at, { random: () => 0.5, retryAfterSeconds: 1 })!.getTime() - at.getTime()) / 1000).toBe(3600);
    expect((nextAttemptAt(1, at, { random: () => 0.5, retryAfterSeconds: 10 ** 9 })!.getTime() - at.getTime()) / 1000).toBe(86400);
    expect(parseRetryAfter("120", at)).toBe(120);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:10:00 GMT", at)).toBe(600);
    expect(parseRetryAfter("soon", at)).toBeUndefined();
    expect(parseRetryAfter(undefined, at)).toBeUndefined();
  });
});
