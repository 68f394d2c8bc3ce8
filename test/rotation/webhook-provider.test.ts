import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { ScaiVaultError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import type { ProviderCall } from "../../src/provider-rotation/providers/provider.js";
import { createWebhookProvider } from "../../src/provider-rotation/providers/webhook.js";
import { createAllowList } from "../../src/outbound/ssrf-guard.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";

const SECRET = "hook-auth-token";
const clock = createManualClock("2026-03-01T10:30:00Z");
const allow = createAllowList(["127.0.0.1"]);

function callFor(endpoint: CredentialEndpoint, current: Record<string, unknown>, config: Record<string, unknown> = {}): ProviderCall {
  return {
    tenantId: "t1",
    path: "partners/acme/api-key",
    config: { url: endpoint.url, ...config },
    credentials: { secret: SECRET },
    current,
    clock,
    logger: silentLogger,
    signal: new AbortController().signal,
  };
}

async function failureOf(promise: Promise<unknown>): Promise<ScaiVaultError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ScaiVaultError);
  return err as ScaiVaultError;
}

describe("webhook provider against a loopback endpoint", () => {
  let endpoint: CredentialEndpoint;
  const provider = createWebhookProvider({ allow, timeoutMs: 1000, maxResponseBytes: 4096 });
  beforeAll(async () => {
    endpoint = await startCredentialEndpoint({ secret: SECRET, initial: ["old-secret-value"] });
  });
  afterAll(async () => endpoint?.close());

  it("posts the prior art's rotate contract with the exact headers and body and stores newValue", async () => {
    endpoint.requests.length = 0;
    const issued = await provider.create(callFor(endpoint, { api_key: "old-secret-value" }));
    expect(endpoint.requests).toHaveLength(1);
    const req = endpoint.requests[0]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/rotate-secret");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["x-webhook-secret"]).toBe(SECRET);
    expect(JSON.parse(req.body)).toEqual({ action: "rotate", currentValue: "old-secret-value", timestamp: "2026-03-01T10:30:00.000Z", path: "partners/acme/api-key" });
    expect(issued.data).toEqual({ api_key: endpoint.issued[0] });
    expect(issued.summary).toBe("POST rotate 200");
    expect(issued.summary).not.toContain(endpoint.issued[0]!);
  });

  it("rotates the configured field of several, or the whole data object, and reads expiresAt", async () => {
    endpoint.override = (req) => (req.json?.action === "rotate" && typeof req.json.currentValue === "object" ? { status: 200, body: JSON.stringify({ newValue: { user: "u", password: "p2" }, expiresAt: "2026-06-01T00:00:00Z" }) } : undefined);
    const field = await provider.create(callFor(endpoint, { user: "u", password: "p1" }, { field: "password" }));
    expect(JSON.parse(endpoint.requests.at(-1)!.body).currentValue).toBe("p1");
    expect(field.data.user).toBe("u");
    expect(field.data.password).toBe(endpoint.issued.at(-1));
    const whole = await provider.create(callFor(endpoint, { user: "u", password: "p1" }));
    expect(JSON.parse(endpoint.requests.at(-1)!.body).currentValue).toEqual({ user: "u", password: "p1" });
    expect(whole.data).toEqual({ user: "u", password: "p2" });
    expect(whole.expiresAt?.toISOString()).toBe("2026-06-01T00:00:00.000Z");
    endpoint.override = undefined;
  });

  it("revokes with the prior art's revoke body only when revoke is configured", async () => {
    endpoint.requests.length = 0;
    const without = await provider.revoke(callFor(endpoint, { api_key: "new" }), { api_key: "old-secret-value" });
    expect(endpoint.requests).toHaveLength(0);
    expect(without.summary).toContain("no revoke call");
    const outcome = await provider.revoke(callFor(endpoint, { api_key: "new" }, { revoke: true }), { api_key: "old-secret-value" });
    expect(outcome.summary).toBe("POST revoke 200");
    const req = endpoint.requests[0]!;
    expect(req.headers["x-webhook-secret"]).toBe(SECRET);
    expect(JSON.parse(req.body)).toEqual({ action: "revoke", previousValue: "old-secret-value", timestamp: "2026-03-01T10:30:00.000Z", path: "partners/acme/api-key" });
    expect(endpoint.valid.has("old-secret-value")).toBe(false);
  });

  it("fails the step on a non-2xx answer, no newValue, a timeout or an oversize answer, naming no value", async () => {
    const cases: [string, CredentialEndpoint["override"], RegExp][] = [
      ["non-2xx", () => ({ status: 500, body: "{}" }), /answered 500/],
      ["redirect", () => ({ status: 302, body: "" }), /answered 302/],
      ["no newValue", () => ({ status: 200, body: JSON.stringify({ expiresAt: "2027-01-01T00:00:00Z" }) }), /no newValue/],
      ["not JSON", () => ({ status: 200, body: "newValue=x" }), /not JSON/],
      ["oversize", () => ({ status: 200, body: JSON.stringify({ newValue: "x".repeat(10_000) }) }), /over 4096 bytes/],
      ["timeout", () => "hang", /no answer within 1000 ms/],
    ];
    for (const [name, override, pattern] of cases) {
      endpoint.override = override;
      const err = await failureOf(provider.create(callFor(endpoint, { api_key: "old-secret-value" })));
      expect(err.code, name).toBe("unavailable");
      expect(err.message, name).toMatch(pattern);
      expect(err.message, name).not.toContain("old-secret-value");
      endpoint.releaseHeld("drop");
    }
    endpoint.override = undefined;
    expect(cases.length).toBe(6);
  });

  it("validates config and credentials, with the SSRF guard", () => {
    const strict = createWebhookProvider({ allow: createAllowList([]), timeoutMs: 1000 });
    const bad: [Record<string, unknown>, Record<string, unknown> | undefined, RegExp][] = [
      [{}, { secret: "s" }, /config.url is required/],
      [{ url: "ftp://example.com/x" }, { secret: "s" }, /http or https/],
      [{ url: "http://127.0.0.1/x" }, { secret: "s" }, /loopback/],
      [{ url: "https://example.com/x", extra: 1 }, { secret: "s" }, /config.extra/],
      [{ url: "https://example.com/x" }, undefined, /credentials.secret is required/],
      [{ url: "https://example.com/x", revoke: "yes" }, { secret: "s" }, /config.revoke/],
    ];
    for (const [config, creds, pattern] of bad) {
      expect(() => strict.validate(config, creds)).toThrow(pattern);
    }
    expect(() => strict.validate({ url: "https://example.com/rotate", field: "api_key", revoke: true }, { secret: "s" })).not.toThrow();
  });
});
