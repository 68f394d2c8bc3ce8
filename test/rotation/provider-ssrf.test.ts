// Provider targets pass the webhooks' SSRF guard: the IAM endpoint, the Stripe API host and the
// PostgreSQL host are refused at configure time when they are private, link-local or the cloud
// metadata address, unless SCAIVAULT_WEBHOOK_ALLOW_HOSTS lists them (these tests allow 127.0.0.1,
// as the webhook tests do, and nothing else); a run whose target the allow-list no longer covers
// is refused at the provider call, before anything is sent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScaiVaultError } from "../../src/errors.js";
import { createPostgresProvider } from "../../src/provider-rotation/providers/postgres.js";
import { createAllowList } from "../../src/outbound/ssrf-guard.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { providerCall } from "./providers/provider-call.js";
import { REPLICA_ENV } from "./provider-replica.js";
import { longToken } from "./rotation-fixtures.js";

describe("SSRF guard on provider targets", () => {
  let tv: TestVault;
  let token: string;

  beforeAll(async () => {
    tv = await startTestVault({ env: REPLICA_ENV });
    token = await longToken(tv, "ssrf");
    for (const path of ["ssrf/iam", "ssrf/stripe", "ssrf/db"]) {
      expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { value: "x" } } })).status).toBe(201);
    }
  }, 120_000);
  afterAll(async () => {
    await tv?.close();
  });

  const configure = (path: string, body: unknown) => tv.rest("PUT", `/v1/rotation/secrets/${path}`, { token, body });

  it.each([
    ["ssrf/iam", { provider: "aws_iam", config: { iam_user_name: "app", region: "us-east-1", endpoint: "http://169.254.169.254/" } }, /^config\.endpoint: url host 169\.254\.169\.254 is a metadata address/],
    ["ssrf/iam", { provider: "aws_iam", config: { iam_user_name: "app", region: "us-east-1", endpoint: "https://[fe80::1]:8443" } }, /^config\.endpoint: url host fe80::1 is a link-local address/],
    ["ssrf/stripe", { provider: "stripe", config: { mode: "supplied", livemode: false, api_base: "http://10.0.0.7" } }, /^config\.api_base: url host 10\.0\.0\.7 is a private address/],
    ["ssrf/stripe", { provider: "stripe", config: { mode: "supplied", livemode: false, api_base: "http://localhost:12111" } }, /^config\.api_base: url host localhost is a loopback name/],
    ["ssrf/db", { provider: "postgres", config: { host: "169.254.10.1", database: "app", username: "app" }, credentials: { admin_username: "admin", admin_password: "pw" } }, /^config\.host: url host 169\.254\.10\.1 is a link-local address/],
    ["ssrf/db", { provider: "postgres", config: { host: "192.168.1.20", database: "app", usernames: ["a", "b"] }, credentials: { admin_username: "admin", admin_password: "pw" } }, /^config\.host: url host 192\.168\.1\.20 is a private address/],
  ])("refuses %s with %j", async (path, body, message) => {
    const res = await configure(path, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(res.body.error.message).toMatch(message);
    expect(res.body.error.message).toContain("SCAIVAULT_WEBHOOK_ALLOW_HOSTS");
  });

  it("allows loopback targets the allow-list names, and public ones", async () => {
    expect((await configure("ssrf/iam", { provider: "aws_iam", config: { iam_user_name: "app", region: "us-east-1", endpoint: "http://127.0.0.1:9" } })).status).toBe(201);
    expect((await configure("ssrf/stripe", { provider: "stripe", config: { mode: "supplied", livemode: false, api_base: "https://api.stripe.com" } })).status).toBe(201);
  });

  it("refuses at run time when the allow-list no longer covers the target: no connection is made", async () => {
    const provider = createPostgresProvider({ allow: createAllowList([]) });
    const call = providerCall({ config: { host: "127.0.0.1", port: 9, database: "app", username: "app" }, credentials: { admin_username: "admin", admin_password: "pw" } });
    const err = await provider.create(call).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScaiVaultError);
    expect((err as ScaiVaultError).message).toMatch(/^config\.host: url host 127\.0\.0\.1 is a loopback address/);
  });
});
