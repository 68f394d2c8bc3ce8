// Stripe in supplied mode through the public API: the operator rolls the key in the Dashboard and
// hands the new one to `POST /v1/secrets/{path}/rotate` as `new_value`. The run carries it sealed
// to its create step, tests it against Stripe (the loopback stand-in) and promotes it; a wrong,
// missing or refused value changes nothing, and providers that issue their own credential refuse
// `new_value` with invalid_request. The key never shows in a log line, run, event or audit row.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startFakeStripe, type FakeStripe } from "../support/fake-stripe.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { REPLICA_ENV } from "./provider-replica.js";
import { HOUR, longToken, outbox } from "./rotation-fixtures.js";

const TENANT = "stripe-supplied";

describe("stripe supplied mode through the rotate call", () => {
  const clock = createManualClock("2026-07-01T08:00:00Z");
  let tv: TestVault;
  let token: string;
  let stripe: FakeStripe;
  const path = "payments/stripe/secret-key";

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV });
    token = await longToken(tv, TENANT);
    stripe = await startFakeStripe();
  }, 120_000);
  afterAll(async () => {
    await tv?.close();
    await stripe?.close();
  });

  const rotate = (p: string, body: unknown) => tv.rest("POST", `/v1/secrets/${p}/rotate`, { token, body });
  const runsOf = async (p: string) => (await tv.rest("GET", `/v1/rotation/secrets/${p}/runs`, { token })).body.data as any[];

  it("promotes the supplied key after a call to Stripe with it; the key is sealed, never shown", async () => {
    const first = stripe.seedKey({ livemode: false });
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { api_key: first.token } } })).status).toBe(201);
    const bound = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, {
      token,
      body: { provider: "stripe", config: { mode: "supplied", livemode: false, api_base: stripe.url }, grace_period: "1h", max_attempts: 1 },
    });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);

    const missing = await rotate(path, {});
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: "invalid_request" });
    expect(missing.body.error.message).toContain("new_value is required");

    const live = "sk_live_" + "x".repeat(24);
    const wrongMode = await rotate(path, { new_value: { api_key: live } });
    expect(wrongMode.status).toBe(400);
    expect(wrongMode.body.error.message).toContain("must start with sk_test_ or rk_test_");
    expect(wrongMode.body.error.message).not.toContain(live);
    expect(await runsOf(path), "a refused value starts no run").toEqual([]);

    const rolled = stripe.seedKey({ livemode: false });
    const rotated = await rotate(path, { new_value: { api_key: rolled.token }, reason: "rolled in the Dashboard" });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect(rotated.body).toMatchObject({ version: 2, previous_version: 1 });
    expect((await tv.rest("GET", `/v1/secrets/${path}`, { token })).body.data).toEqual({ api_key: rolled.token });
    expect((await tv.rest("GET", `/v1/secrets/${path}?stage=previous`, { token })).body.data).toEqual({ api_key: first.token });
    const balance = stripe.requests.filter((r) => r.path === "/v1/balance");
    expect(balance.at(-1)!.headers.authorization).toBe(`Bearer ${rolled.token}`);

    const [run] = await runsOf(path);
    expect(run).toMatchObject({ triggered_by: "manual", provider: "stripe", step: "verify", provider_response: "GET /v1/balance with the new key 200" });
    expect(run.steps.map((s: any) => s.step)).toEqual(["preflight", "create", "test", "promote"]);
    const row = await tv.vault.db.selectFrom("rotation_runs").selectAll().where("id", "=", run.id).executeTakeFirstOrThrow();
    expect(row.supplied_ciphertext, "the sealed value is gone once it is a version").toBeNull();

    clock.advance(HOUR + 1000);
    await tv.vault.rotationRunner.runDue(clock.now());
    await tv.vault.rotationRunner.runDue(clock.now());
    expect((await runsOf(path))[0]).toMatchObject({ status: "succeeded", step: "done" });

    const leaks = [
      ...tv.logs,
      JSON.stringify(await runsOf(path)),
      JSON.stringify(await outbox(tv, TENANT)),
      JSON.stringify(await tv.vault.db.selectFrom("audit_events").selectAll().where("target_tenant", "=", TENANT).execute()),
    ].filter((text) => text.includes(rolled.token) || text.includes(first.token));
    expect(leaks).toEqual([]);
  });

  it("a key Stripe refuses fails the run at test: the current version stays current", async () => {
    const before = (await tv.rest("GET", `/v1/secrets/${path}`, { token })).body;
    const unknown = "sk_test_" + "u".repeat(24);
    const refused = await rotate(path, { new_value: { api_key: unknown } });
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toMatch(/rotation failed at step test: Stripe GET \/v1\/balance with the new key failed: 401/);
    expect(refused.body.error.message).not.toContain(unknown);
    expect((await tv.rest("GET", `/v1/secrets/${path}`, { token })).body).toMatchObject({ version: before.version, data: before.data });
    expect((await tv.rest("GET", `/v1/secrets/${path}?stage=pending`, { token })).body.error.code).toBe("version_not_found");
    const row = await tv.vault.db.selectFrom("rotation_runs").selectAll().where("id", "=", (await runsOf(path))[0].id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: "failed", step: "test", supplied_ciphertext: null });
  });

  it("a scheduled rotation in supplied mode announces rotation.due and starts no run; the key written then is tested and promoted", async () => {
    const scheduled = "payments/stripe/scheduled-key";
    const first = stripe.seedKey({ livemode: false });
    expect((await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "stripe-daily", interval: "24h" } })).status).toBe(201);
    expect((await tv.rest("PUT", `/v1/secrets/${scheduled}`, { token, body: { data: { api_key: first.token } } })).status).toBe(201);
    const bound = await tv.rest("PUT", `/v1/rotation/secrets/${scheduled}`, {
      token,
      body: { provider: "stripe", config: { mode: "supplied", livemode: false, api_base: stripe.url }, policy_id: "rot_stripe-daily", grace_period: "1h" },
    });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
    const seq = Math.max(0, ...(await outbox(tv, TENANT)).map((e) => Number(e.seq)));

    clock.advance(24 * HOUR + 1000);
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runsOf(scheduled), "nothing to create a key from: no run").toEqual([]);
    const due = (await outbox(tv, TENANT, seq)).filter((e) => e.event_type === "rotation.due" && e.path === scheduled);
    expect(due).toHaveLength(1);
    expect(due[0]!.data).toMatchObject({ policy_name: "stripe-daily", due_now: true });
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    expect((await outbox(tv, TENANT, seq)).filter((e) => e.event_type === "rotation.due" && e.path === scheduled), "announced once").toHaveLength(1);

    const rolled = stripe.seedKey({ livemode: false });
    const rotated = await rotate(scheduled, { new_value: { api_key: rolled.token } });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect((await tv.rest("GET", `/v1/secrets/${scheduled}`, { token })).body.data).toEqual({ api_key: rolled.token });
  });

  it("providers that issue their own credential refuse new_value with invalid_request, app_managed stripe included", async () => {
    const app = stripe.seedKey({ livemode: false, app: true });
    const managed = "payments/stripe/app-key";
    expect((await tv.rest("PUT", `/v1/secrets/${managed}`, { token, body: { data: { api_key: stripe.seedKey({ livemode: false }).token } } })).status).toBe(201);
    const bound = await tv.rest("PUT", `/v1/rotation/secrets/${managed}`, {
      token,
      body: { provider: "stripe", config: { mode: "app_managed", livemode: false, account: stripe.account, api_base: stripe.url }, credentials: { api_key: app.token } },
    });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
    const refused = await rotate(managed, { new_value: { api_key: "sk_test_" + "m".repeat(24) } });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "invalid_request", message: "stripe takes a new value only in supplied mode" });

    const generated = "payments/generated";
    expect((await tv.rest("PUT", `/v1/secrets/${generated}`, { token, body: { data: { password: "p0" } } })).status).toBe(201);
    expect((await tv.rest("PUT", `/v1/rotation/secrets/${generated}`, { token, body: { provider: "generated" } })).status).toBe(201);
    const generatedRefused = await rotate(generated, { new_value: { password: "mine" } });
    expect(generatedRefused.status).toBe(400);
    expect(generatedRefused.body.error.message).toContain("new_value cannot be given");
    expect(await runsOf(generated)).toEqual([]);
    expect(await runsOf(managed)).toEqual([]);
  });
});
