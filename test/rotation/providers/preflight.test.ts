// Pre-flight of each provider against its stand-in (IAM-compatible endpoint with SigV4 checked,
// Stripe's API with the official SDK, the webhook contract on loopback): ok, the endpoint
// unreachable, the stored credentials rejected. Nothing at the provider changes. PostgreSQL's is
// in postgres.test.ts (a SCRAM cluster of its own).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAllowList } from "../../../src/outbound/ssrf-guard.js";
import { createAwsIamProvider } from "../../../src/provider-rotation/providers/aws-iam.js";
import { runPreflight } from "../../../src/provider-rotation/providers/preflight.js";
import { createStripeProvider } from "../../../src/provider-rotation/providers/stripe.js";
import { createWebhookProvider } from "../../../src/provider-rotation/providers/webhook.js";
import { startFakeIam, type FakeIam } from "../../support/fake-iam.js";
import { startFakeStripe, type FakeStripe } from "../../support/fake-stripe.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "../credential-endpoint.js";
import { providerCall } from "./provider-call.js";

const loopback = createAllowList(["127.0.0.1"]);
/** Nothing listens on the discard port of loopback: connections are refused. */
const UNREACHABLE = "http://127.0.0.1:9";

let iam: FakeIam;
let stripe: FakeStripe;
let endpoint: CredentialEndpoint;
beforeAll(async () => {
  iam = await startFakeIam();
  stripe = await startFakeStripe();
  endpoint = await startCredentialEndpoint({ secret: "hook-secret", initial: ["v1"] });
});
afterAll(async () => {
  await iam?.close();
  await stripe?.close();
  await endpoint?.close();
});

const asData = (k: { accessKeyId: string; secretAccessKey: string }) => ({ access_key_id: k.accessKeyId, secret_access_key: k.secretAccessKey });
const names = (checks: { name: string; ok: boolean }[]) => checks.map((c) => `${c.name}:${c.ok ? "ok" : "failed"}`);

describe("aws_iam pre-flight", () => {
  const provider = createAwsIamProvider({ allow: loopback, maxAttempts: 1 });

  it("passes with a key IAM accepts, and changes nothing (only ListAccessKeys is called)", async () => {
    const rotator = asData(iam.seedKey("pf-rotator"));
    const current = asData(iam.seedKey("pf-app"));
    const from = iam.requests.length;
    const report = await runPreflight(provider, providerCall({ config: { iam_user_name: "pf-app", region: "us-east-1", endpoint: iam.url }, credentials: rotator, current }));
    expect(names(report.checks)).toEqual(["reachable:ok", "credentials:ok"]);
    expect(report.ok).toBe(true);
    expect(report.checks[1]!.message).toContain("1 of 2 in use");
    expect(iam.requests.slice(from).map((r) => r.action)).toEqual(["ListAccessKeys"]);
    expect(iam.keysOf("pf-app")).toHaveLength(1);
    expect(JSON.stringify(report)).not.toContain(rotator.secret_access_key);
  });

  it("says credentials rejected when IAM refuses the rotation identity's key", async () => {
    iam.seedKey("pf-app2");
    const report = await runPreflight(provider, providerCall({ config: { iam_user_name: "pf-app2", region: "us-east-1", endpoint: iam.url }, credentials: { access_key_id: "AKIANOTKNOWN0000", secret_access_key: "wrong-secret-value" } }));
    expect(report.ok).toBe(false);
    expect(names(report.checks)).toEqual(["reachable:ok", "credentials:failed"]);
    expect(report.checks[1]!.message).toContain("InvalidClientTokenId (403)");
    expect(JSON.stringify(report)).not.toContain("wrong-secret-value");
  });

  it("says unreachable when nothing answers at the endpoint, and config when the user does not exist", async () => {
    const rotator = asData(iam.seedKey("pf-rotator3"));
    const down = await runPreflight(provider, providerCall({ config: { iam_user_name: "pf-app3", region: "us-east-1", endpoint: UNREACHABLE }, credentials: rotator }));
    expect(names(down.checks)).toEqual(["reachable:failed"]);
    expect(down.checks[0]!.message).toContain("ECONNREFUSED");
    const missing = await runPreflight(provider, providerCall({ config: { iam_user_name: "pf-nobody", region: "us-east-1", endpoint: iam.url }, credentials: rotator }));
    expect(names(missing.checks)).toEqual(["reachable:ok", "credentials:ok", "config:failed"]);
  });
});

describe("stripe pre-flight", () => {
  const provider = createStripeProvider({ allow: loopback, maxNetworkRetries: 0 });

  it("app_managed: the App's key lists the account's keys; a refused key and an unreachable API say so", async () => {
    const app = stripe.seedKey({ livemode: false, app: true });
    const config = { mode: "app_managed", livemode: false, account: stripe.account, api_base: stripe.url };
    const from = stripe.requests.length;
    const ok = await runPreflight(provider, providerCall({ config, credentials: { api_key: app.token } }));
    expect(names(ok.checks)).toEqual(["reachable:ok", "credentials:ok"]);
    expect(stripe.requests.slice(from).map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v2/iam/api_keys"]);

    const rejected = await runPreflight(provider, providerCall({ config, credentials: { api_key: "sk_test_not_a_key_of_this_account" } }));
    expect(names(rejected.checks)).toEqual(["reachable:ok", "credentials:failed"]);
    expect(rejected.checks[1]!.message).toContain("401");
    expect(JSON.stringify(rejected)).not.toContain("sk_test_not_a_key");

    const notApp = stripe.seedKey({ livemode: false });
    const forbidden = await runPreflight(provider, providerCall({ config, credentials: { api_key: notApp.token } }));
    expect(names(forbidden.checks)).toEqual(["reachable:ok", "credentials:failed"]);
    expect(forbidden.checks[1]!.message).toContain("403");

    const down = await runPreflight(provider, providerCall({ config: { ...config, api_base: UNREACHABLE }, credentials: { api_key: app.token } }));
    expect(names(down.checks)).toEqual(["reachable:failed"]);
  });

  it("supplied: stores no credentials, so only whether the API answers (asked without a key)", async () => {
    const ok = await runPreflight(provider, providerCall({ config: { mode: "supplied", livemode: false, api_base: stripe.url } }));
    expect(names(ok.checks)).toEqual(["reachable:ok", "credentials:ok"]);
    expect(ok.checks[1]!.message).toContain("none stored in supplied mode");
    const down = await runPreflight(provider, providerCall({ config: { mode: "supplied", livemode: false, api_base: UNREACHABLE } }));
    expect(names(down.checks)).toEqual(["reachable:failed"]);
  });
});

describe("webhook pre-flight", () => {
  const provider = createWebhookProvider({ allow: loopback, timeoutMs: 5_000 });

  it("with config.test the endpoint checks the secret on {action: test} and issues nothing", async () => {
    const config = { url: endpoint.url, test: true };
    const issuedBefore = endpoint.issued.length;
    const ok = await runPreflight(provider, providerCall({ config, credentials: { secret: "hook-secret" } }));
    expect(names(ok.checks)).toEqual(["reachable:ok", "credentials:ok"]);
    expect(endpoint.requests.at(-1)!.json).toMatchObject({ action: "test", path: "apps/provider-test/credential" });
    const rejected = await runPreflight(provider, providerCall({ config, credentials: { secret: "wrong-hook-secret" } }));
    expect(names(rejected.checks)).toEqual(["reachable:ok", "credentials:failed"]);
    expect(rejected.checks[1]!.message).toContain("401");
    expect(JSON.stringify(rejected)).not.toContain("wrong-hook-secret");
    expect(endpoint.issued.length).toBe(issuedBefore);
    expect([...endpoint.valid]).toEqual(["v1"]);
  });

  it("without config.test only a GET is sent (an endpoint of the prior contract may rotate on any POST)", async () => {
    const posts = endpoint.requests.filter((r) => r.method === "POST").length;
    const ok = await runPreflight(provider, providerCall({ config: { url: endpoint.url }, credentials: { secret: "hook-secret" } }));
    expect(names(ok.checks)).toEqual(["reachable:ok", "credentials:ok"]);
    expect(ok.checks[1]!.message).toMatch(/^not checked/);
    expect(endpoint.requests.filter((r) => r.method === "POST").length).toBe(posts);
    const down = await runPreflight(provider, providerCall({ config: { url: `${UNREACHABLE}/rotate`, test: true }, credentials: { secret: "hook-secret" } }));
    expect(names(down.checks)).toEqual(["reachable:failed"]);
  });

  it("a config the provider no longer accepts fails the config check before anything is sent", async () => {
    const report = await runPreflight(provider, providerCall({ config: { url: endpoint.url, test: "yes" }, credentials: { secret: "hook-secret" } }));
    expect(names(report.checks)).toEqual(["config:failed"]);
    expect(report.checks[0]!.message).toBe("config.test must be true or false");
  });
});
