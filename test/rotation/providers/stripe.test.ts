import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScaiVaultError } from "../../../src/errors.js";
import {
  createStripeProvider,
  defaultStripePreviewVersion,
  suppliedStripeCredential,
  testSuppliedStripeKey,
} from "../../../src/provider-rotation/providers/stripe.js";
import { startFakeStripe, type FakeStripe } from "../../support/fake-stripe.js";
import { providerCall } from "./provider-call.js";
import { createAllowList } from "../../../src/outbound/ssrf-guard.js";

/** The loopback stand-ins are allowed the way webhook tests allow them (SCAIVAULT_WEBHOOK_ALLOW_HOSTS=127.0.0.1). */
const loopback = createAllowList(["127.0.0.1"]);

let stripe: FakeStripe;
beforeAll(async () => {
  stripe = await startFakeStripe();
});
afterAll(async () => {
  await stripe.close();
});

/** What a consumer holding `token` sees when it calls Stripe. */
async function balanceWith(token: string): Promise<string> {
  const url = new URL(stripe.url);
  const client = new Stripe(token, { host: url.hostname, port: Number(url.port), protocol: "http", maxNetworkRetries: 0, telemetry: false });
  try {
    const balance = await client.balance.retrieve();
    return balance.livemode ? "ok live" : "ok test";
  } catch (err) {
    return `refused ${(err as { statusCode?: number }).statusCode}`;
  }
}

const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ScaiVaultError);

describe("stripe provider, app_managed (v2 API keys endpoints through the official SDK)", () => {
  it("creates, tests, and after the grace period expires the old key, with the preview headers on every v2 call", async () => {
    const app = stripe.seedKey({ livemode: false, app: true });
    const old = stripe.seedKey({ livemode: false, name: "scaivault t_test apps/provider-test/credential" });
    const provider = createStripeProvider({ allow: loopback, maxNetworkRetries: 0 });
    const config = { mode: "app_managed", livemode: false, account: stripe.account, api_base: stripe.url };
    const credentials = { api_key: app.token };
    provider.validate(config, credentials);
    const oldData = { api_key: old.token, api_key_id: old.id };

    const from = stripe.requests.length;
    const call = providerCall({ config, credentials, current: oldData });
    const issued = await provider.create(call);
    const newKey = String(issued.data.api_key);
    expect(newKey).toMatch(/^sk_test_/);
    expect(issued.data.api_key_id).toMatch(/^ak_/);
    expect(issued.summary).toBe(`POST /v2/iam/api_keys 200 (${issued.data.api_key_id})`);
    expect(issued.summary).not.toContain(newKey);

    const v2Calls = stripe.requests.slice(from);
    expect(v2Calls.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v2/iam/api_keys", "POST /v2/iam/api_keys"]);
    for (const r of v2Calls) {
      expect(r.headers.authorization).toBe(`Bearer ${app.token}`);
      expect(r.headers["stripe-version"]).toBe(await defaultStripePreviewVersion());
      expect(r.headers["stripe-context"]).toBe(stripe.account);
    }
    const createCall = v2Calls[1]!;
    expect(createCall.headers["idempotency-key"]).toMatch(/^scaivault-create-[0-9a-f-]{36}$/);
    expect(createCall.headers["content-type"]).toContain("application/json");
    expect(createCall.body).toMatchObject({
      type: "secret",
      name: "scaivault t_test apps/provider-test/credential",
      public_key: { pem_key: { algorithm: "RSA", data: expect.stringContaining("-----BEGIN PUBLIC KEY-----") } },
    });

    expect((await provider.test(call, issued.data)).summary).toBe("GET /v1/balance with the new key 200");
    expect(stripe.requests.at(-1)!.headers.authorization).toBe(`Bearer ${newKey}`);
    expect(await balanceWith(old.token)).toBe("ok test"); // grace: the old key keeps working

    const promoted = providerCall({ config, credentials, current: issued.data });
    expect((await provider.revoke(promoted, oldData)).summary).toBe(`POST /v2/iam/api_keys/${old.id}/expire 200`);
    const expireCall = stripe.requests.at(-1)!;
    expect(expireCall.path).toBe(`/v2/iam/api_keys/${old.id}/expire`);
    expect(expireCall.headers["idempotency-key"]).toBe(`scaivault-expire-${old.id}`);
    expect(expireCall.headers["stripe-context"]).toBe(stripe.account);
    expect(await balanceWith(old.token)).toBe("refused 401");
    expect(await balanceWith(newKey)).toBe("ok test");

    // Repeated after a crash, revoke finds the key expired and is done.
    expect((await provider.revoke(promoted, oldData)).summary).toBe(`${old.id} already expired`);
    await expect(provider.revoke(promoted, issued.data)).rejects.toThrow("refuses to revoke the current version's key");
  });

  it("a lost create answer is retried by the SDK with the same idempotency key: one key, not two", async () => {
    const app = stripe.seedKey({ livemode: true, app: true });
    const provider = createStripeProvider({ allow: loopback, maxNetworkRetries: 1 });
    const config = { mode: "app_managed", livemode: true, account: stripe.account, api_base: stripe.url, key_name: "billing-live" };
    const call = providerCall({ config, credentials: { api_key: app.token } });
    const createdBefore = stripe.created;
    const from = stripe.requests.length;
    stripe.failNextCreateAfterProcessing = true;
    const issued = await provider.create(call);
    expect(stripe.created - createdBefore).toBe(1);
    const posts = stripe.requests.slice(from).filter((r) => r.method === "POST");
    expect(posts).toHaveLength(2);
    expect(posts[0]!.headers["idempotency-key"]).toBe(posts[1]!.headers["idempotency-key"]);
    expect(String(issued.data.api_key)).toMatch(/^sk_live_/);
    expect(await balanceWith(String(issued.data.api_key))).toBe("ok live");
  });

  it("a repeated create expires the orphan of the crashed one; discard expires the half-created key", async () => {
    const app = stripe.seedKey({ livemode: false, app: true });
    const current = stripe.seedKey({ livemode: false, name: "orders-key" });
    const unrelated = stripe.seedKey({ livemode: false, name: "someone else's key" });
    const provider = createStripeProvider({ allow: loopback, maxNetworkRetries: 0 });
    const config = { mode: "app_managed", livemode: false, account: stripe.account, api_base: stripe.url, key_name: "orders-key" };
    const call = providerCall({ config, credentials: { api_key: app.token }, current: { api_key: current.token, api_key_id: current.id } });

    const crashed = await provider.create(call); // its run died before storing the pending version
    const issued = await provider.create(call);
    expect(issued.summary).toBe(`expired orphan ${crashed.data.api_key_id}, POST /v2/iam/api_keys 200 (${issued.data.api_key_id})`);
    expect(await balanceWith(String(crashed.data.api_key))).toBe("refused 401");
    expect(await balanceWith(current.token)).toBe("ok test");
    expect(await balanceWith(unrelated.token)).toBe("ok test");

    expect((await provider.discard(call, issued.data)).summary).toBe(`POST /v2/iam/api_keys/${issued.data.api_key_id}/expire 200`);
    expect(await balanceWith(String(issued.data.api_key))).toBe("refused 401");
    expect(await balanceWith(current.token)).toBe("ok test");
  });

  it("the app's key must be accepted: a wrong one is a safe unavailable error", async () => {
    const provider = createStripeProvider({ allow: loopback, maxNetworkRetries: 0 });
    const config = { mode: "app_managed", livemode: false, account: stripe.account, api_base: stripe.url };
    const err = await errorOf(provider.create(providerCall({ config, credentials: { api_key: "sk_test_not_a_real_key" } })));
    expect(err).toBeInstanceOf(ScaiVaultError);
    expect(err!.code).toBe("unavailable");
    expect(err!.message).toBe("Stripe GET /v2/iam/api_keys failed: 401 StripeAuthenticationError");
  });
});

describe("stripe provider, supplied (the operator rolls the key in the Dashboard)", () => {
  const config = () => ({ mode: "supplied", livemode: false, api_base: stripe.url });

  it("create asks for new_value; the supplied key is prefix-checked, tested with a call to Stripe, and never revoked here", async () => {
    const provider = createStripeProvider({ allow: loopback, maxNetworkRetries: 0 });
    provider.validate(config(), undefined);
    const call = providerCall({ config: config(), current: { api_key: "sk_test_old" } });
    const refused = await errorOf(provider.create(call));
    expect(refused!.code).toBe("invalid_request");
    expect(refused!.message).toBe("stripe provider in supplied mode needs new_value");

    const rolled = stripe.seedKey({ livemode: false });
    const issued = suppliedStripeCredential(config(), rolled.token);
    expect(issued.data).toEqual({ api_key: rolled.token });
    expect(issued.summary).toBe("supplied by the operator (sk_test_…)");
    expect(suppliedStripeCredential(config(), { api_key: rolled.token }).data).toEqual({ api_key: rolled.token });

    const from = stripe.requests.length;
    expect((await provider.test(call, issued.data)).summary).toBe("GET /v1/balance with the new key 200");
    expect((await testSuppliedStripeKey({ allow: loopback, maxNetworkRetries: 0 }, call, rolled.token)).summary).toBe("GET /v1/balance with the new key 200");
    const calls = stripe.requests.slice(from);
    expect(calls.map((r) => `${r.method} ${r.path} ${r.headers.authorization}`)).toEqual([
      `GET /v1/balance Bearer ${rolled.token}`,
      `GET /v1/balance Bearer ${rolled.token}`,
    ]);
    expect(calls.every((r) => r.headers["stripe-context"] === undefined)).toBe(true);

    const revoked = await provider.revoke(providerCall({ config: config(), current: issued.data }), { api_key: "sk_test_old" });
    expect(revoked.summary).toContain("none in supplied mode");
    expect(stripe.requests.length - from).toBe(2);
  });

  it("a restricted key without balance access still proves itself; an unknown key fails the test", async () => {
    const provider = createStripeProvider({ allow: loopback, maxNetworkRetries: 0 });
    const call = providerCall({ config: config() });
    const restricted = stripe.seedKey({ livemode: false, restricted: true });
    expect((await provider.test(call, suppliedStripeCredential(config(), restricted.token).data)).summary).toBe(
      "GET /v1/balance with the new key 403, key accepted (restricted)",
    );
    const unknown = await errorOf(provider.test(call, { api_key: "sk_test_typo" }));
    expect(unknown!.code).toBe("unavailable");
    expect(unknown!.message).toBe("Stripe GET /v1/balance with the new key failed: 401 StripeAuthenticationError");
    expect(unknown!.message).not.toContain("sk_test_typo");
  });

  it("the key's prefix must agree with config.livemode", () => {
    const live = stripe.seedKey({ livemode: true });
    expect(() => suppliedStripeCredential(config(), live.token)).toThrow("new_value must start with sk_test_ or rk_test_ (config.livemode is false)");
    expect(() => suppliedStripeCredential(config(), "pk_test_publishable")).toThrow("new_value must start with sk_test_ or rk_test_");
    expect(() => suppliedStripeCredential(config(), 42)).toThrow("new_value must be the new Stripe key");
  });

  it("validate names the bad field", () => {
    const provider = createStripeProvider({ allow: loopback });
    expect(() => provider.validate({ livemode: true }, undefined)).toThrow("config.mode must be app_managed or supplied");
    expect(() => provider.validate({ mode: "supplied" }, undefined)).toThrow("config.livemode must be true or false");
    expect(() => provider.validate({ mode: "supplied", livemode: true, api_base: "ftp://x" }, undefined)).toThrow("config.api_base must be an http(s) URL");
    expect(() => provider.validate({ mode: "supplied", livemode: true }, { api_key: "x" })).toThrow("credentials are not used in supplied mode");
    expect(() => provider.validate({ mode: "app_managed", livemode: true }, { api_key: "x" })).toThrow("config.account (acct_…, sent as Stripe-Context) is required");
    expect(() => provider.validate({ mode: "app_managed", livemode: true, account: "acct_1" }, undefined)).toThrow("credentials.api_key (the Stripe App's secret key) is required");
    expect(() => provider.validate({ mode: "app_managed", livemode: true, account: "acct_1" }, { api_key: "sk_live_app" })).not.toThrow();
  });
});
