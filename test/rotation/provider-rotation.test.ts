import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import type { RotationProvider } from "../../src/provider-rotation/providers/provider.js";
import { startReceiver, type Receiver } from "../webhooks/receiver.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import type { TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { HOUR, longToken, outbox, startRotationVault } from "./rotation-fixtures.js";
import { startTestVault } from "../support/vault.js";

const SECRET = "hook-auth-token";
const WHSEC = `whsec_${Buffer.from("k".repeat(32)).toString("base64")}`;

/** A provider whose `test` waits for the test to open a gate: the window in which a pending version exists. */
function gatedProvider() {
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  const provider: RotationProvider = {
    name: "gated",
    validate() {},
    async create(call) {
      return { data: { ...call.current, api_key: "issued-by-gated" }, summary: "gated create" };
    },
    async test() {
      await gate;
      return { summary: "gated test" };
    },
    async revoke() {
      return { summary: "gated revoke" };
    },
    async discard() {
      return { summary: "gated discard" };
    },
  };
  return {
    provider,
    release: () => open(),
    reset: () => (gate = new Promise<void>((resolve) => (open = resolve))),
  };
}

describe("provider rotation over the API", () => {
  const clock = createManualClock("2026-03-01T10:00:00Z");
  let tv: TestVault;
  let token: string;
  let endpoint: CredentialEndpoint;
  let receiver: Receiver;
  const gated = gatedProvider();
  const runDue = () => tv.vault.rotationRunner.runDue(clock.now());

  beforeAll(async () => {
    tv = await startTestVault({
      clock,
      env: { SCAIVAULT_SCHEDULER_ENABLED: "false", SCAIVAULT_WEBHOOK_POLL: "1h", SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" },
      extraProviders: () => [gated.provider],
    });
    token = await longToken(tv, "pr");
    endpoint = await startCredentialEndpoint({ secret: SECRET, initial: ["old-1", "old-2"] });
    receiver = await startReceiver({ secret: WHSEC, clock });
  }, 300_000);
  afterAll(async () => {
    await tv?.close();
    await endpoint?.close();
    await receiver?.close();
  });

  async function put(path: string, data: Record<string, unknown>) {
    const res = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data } });
    expect([200, 201]).toContain(res.status);
  }
  const configure = (path: string, body: Record<string, unknown>) => tv.rest("PUT", `/v1/rotation/secrets/${path}`, { token, body });

  it("configures a binding (201, then 200), shows credentials only as has_credentials, and refuses what it cannot run", async () => {
    await put("partners/acme/api-key", { api_key: "old-1" });
    await put("partners/nocreds", { api_key: "x" });
    const body = { provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials: { secret: SECRET }, grace_period: "1h" };
    const first = await configure("partners/acme/api-key", body);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ path: "partners/acme/api-key", provider: "webhook", config: { url: endpoint.url, revoke: true }, has_credentials: true, grace_period: "1h", max_attempts: 3, status: "active", last_run: null, policy_id: null });
    expect(JSON.stringify(first.body)).not.toContain(SECRET);
    const again = await configure("partners/acme/api-key", { ...body, credentials: undefined });
    expect(again.status).toBe(200);
    expect(again.body.has_credentials).toBe(true);

    const refused = [
      [await configure("partners/acme/api-key", { provider: "aws_iam", config: {} }), "invalid_request", /iam_user_name/],
      [await configure("partners/acme/api-key", { provider: "nope" }), "invalid_request", /provider must be one of/],
      [await configure("partners/nocreds", { provider: "webhook", config: { url: endpoint.url } }), "invalid_request", /credentials.secret/],
      [await configure("partners/acme/api-key", { ...body, grace_period: "soon" }), "invalid_duration", /grace_period/],
      [await configure("partners/acme/api-key", { ...body, max_attempts: 0 }), "invalid_request", /max_attempts/],
      [await configure("partners/acme/api-key", { ...body, policy_id: "rot_missing" }), "rotation_policy_not_found", /rot_missing/],
      [await configure("partners/none", body), "secret_not_found", /not found/],
      [await configure("partners/acme/pause", body), "invalid_path", /reserved/],
    ] as const;
    for (const [res, code, message] of refused) {
      expect(res.body.error?.code).toBe(code);
      expect(res.body.error.message).toMatch(message);
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
    }
    expect(refused).toHaveLength(8);
  });

  it("lists with status and provider filters and keyset pages; pauses and resumes", async () => {
    await put("partners/beta/api-key", { api_key: "old-2" });
    await put("partners/gamma/password", { password: "g" });
    expect((await configure("partners/beta/api-key", { provider: "webhook", config: { url: endpoint.url }, credentials: { secret: SECRET } })).status).toBe(201);
    expect((await configure("partners/gamma/password", { provider: "generated" })).status).toBe(201);
    const page1 = await tv.rest("GET", "/v1/rotation/secrets?limit=2", { token });
    expect(page1.body.data.map((r: any) => r.path)).toEqual(["partners/acme/api-key", "partners/beta/api-key"]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await tv.rest("GET", `/v1/rotation/secrets?limit=2&cursor=${page1.body.cursor}`, { token });
    expect(page2.body.data.map((r: any) => r.path)).toEqual(["partners/gamma/password"]);
    expect(page2.body).toMatchObject({ has_more: false, cursor: null });
    expect((await tv.rest("GET", "/v1/rotation/secrets?provider=generated", { token })).body.data.map((r: any) => r.path)).toEqual(["partners/gamma/password"]);

    const paused = await tv.rest("POST", "/v1/rotation/secrets/partners/beta/api-key/pause", { token });
    expect(paused.body).toMatchObject({ status: "paused" });
    expect(paused.body.paused_at).toBe("2026-03-01T10:00:00Z");
    expect((await tv.rest("GET", "/v1/rotation/secrets?status=paused", { token })).body.data.map((r: any) => r.path)).toEqual(["partners/beta/api-key"]);
    expect((await tv.rest("POST", "/v1/rotation/secrets/partners/beta/api-key/resume", { token })).body).toMatchObject({ status: "active", paused_at: null });
    expect((await tv.rest("GET", "/v1/rotation/secrets?status=bogus", { token })).body.error.code).toBe("invalid_request");
  });

  it("rotates through the webhook on POST /v1/secrets/{path}/rotate, answers once promoted, and revokes after the grace period", async () => {
    const started = clock.now();
    const res = await tv.rest("POST", "/v1/secrets/partners/acme/api-key/rotate", { token, body: {} });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ path: "partners/acme/api-key", version: 2, previous_version: 1, previous_version_readable_until: "2026-03-01T11:00:00Z" });
    expect(res.body.run_id).toMatch(/^run_/);
    const issued = endpoint.issued.at(-1)!;
    expect(JSON.parse(endpoint.requests.find((r) => r.json?.action === "rotate")!.body)).toMatchObject({ currentValue: "old-1", path: "partners/acme/api-key" });

    expect((await tv.rest("GET", "/v1/secrets/partners/acme/api-key", { token })).body.data).toEqual({ api_key: issued });
    expect((await tv.rest("GET", "/v1/secrets/partners/acme/api-key?stage=previous", { token })).body).toMatchObject({ version: 1, data: { api_key: "old-1" } });
    const versions = await tv.rest("GET", "/v1/secrets/partners/acme/api-key/versions", { token });
    expect(versions.body.versions.map((v: any) => [v.version, v.stage])).toEqual([[2, "current"], [1, "previous"]]);
    // The answer came at promote; verify is the runner's (any replica's) next step.
    expect((await tv.rest("GET", "/v1/rotation/secrets/partners/acme/api-key/runs", { token })).body.data[0]).toMatchObject({ status: "running", step: "verify" });
    expect(await runDue()).toBe(1);
    const run = (await tv.rest("GET", "/v1/rotation/secrets/partners/acme/api-key/runs", { token })).body.data[0];
    expect(run).toMatchObject({ id: res.body.run_id, status: "waiting_grace", step: "revoke", triggered_by: "manual", actor: "tester", old_version: 1, new_version: 2, revoke_at: "2026-03-01T11:00:00Z" });
    expect(run.steps.map((s: any) => `${s.step}:${s.status}`)).toEqual(["preflight:succeeded", "create:succeeded", "test:succeeded", "promote:succeeded", "verify:succeeded"]);

    // Before the grace period ends nothing is revoked, whatever the runner does.
    expect(await runDue()).toBe(0);
    expect(endpoint.revoked).toEqual([]);
    clock.advance(HOUR + 1000);
    expect(await runDue()).toBe(1);
    expect(endpoint.revoked).toEqual(["old-1"]);
    expect(endpoint.valid.has(issued)).toBe(true);
    expect((await tv.rest("GET", "/v1/secrets/partners/acme/api-key?version=1", { token })).body.error.code).toBe("version_not_found");
    expect((await tv.rest("GET", "/v1/secrets/partners/acme/api-key?stage=previous", { token })).body.error.code).toBe("version_not_found");
    const done = (await tv.rest("GET", "/v1/rotation/secrets/partners/acme/api-key", { token })).body;
    expect(done).toMatchObject({ status: "active", last_rotated_at: started.toISOString().replace(".000Z", "Z"), last_run: { status: "succeeded", step: "done" } });

    const events = (await outbox(tv, "pr")).filter((e) => e.path === "partners/acme/api-key" && e.event_type.startsWith("rotation."));
    expect(events.map((e) => e.event_type)).toEqual(["rotation.completed", "rotation.revoked"]);
    expect(JSON.stringify(events)).not.toContain(issued);
    const audit = await tv.vault.db.selectFrom("audit_events").select(["action", "actor", "outcome"]).where("target_tenant", "=", "pr").where("action", "like", "RotationRun.%").orderBy("id").execute();
    expect(audit.map((a) => a.action)).toEqual(["RotationRun.start", "RotationRun.preflight", "RotationRun.create", "RotationRun.test", "RotationRun.promote", "RotationRun.verify", "RotationRun.revoke"]);
    expect(audit.every((a) => a.actor === "tester" && a.outcome === "allowed")).toBe(true);

    const withValue = await tv.rest("POST", "/v1/secrets/partners/acme/api-key/rotate", { token, body: { new_value: { api_key: "mine" } } });
    expect(withValue.body.error).toMatchObject({ code: "invalid_request" });
  });

  it("never serves a pending version to a plain read; ?stage=pending reads it", async () => {
    await put("partners/delta/api-key", { api_key: "delta-old" });
    expect((await configure("partners/delta/api-key", { provider: "gated", grace_period: "0s" })).status).toBe(201);
    const rotating = tv.rest("POST", "/v1/secrets/partners/delta/api-key/rotate", { token, body: {} });
    let versions: any;
    for (let i = 0; i < 200; i++) {
      versions = (await tv.rest("GET", "/v1/secrets/partners/delta/api-key/versions", { token })).body;
      if (versions.versions.length === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(versions.versions.map((v: any) => [v.version, v.stage])).toEqual([[2, "pending"], [1, "current"]]);
    expect((await tv.rest("GET", "/v1/secrets/partners/delta/api-key", { token })).body).toMatchObject({ version: 1, data: { api_key: "delta-old" } });
    expect((await tv.rest("GET", "/v1/secrets/partners/delta/api-key?version=2", { token })).body.error.code).toBe("version_not_found");
    expect((await tv.rest("GET", "/v1/secrets/partners/delta/api-key?stage=pending", { token })).body).toMatchObject({ version: 2, data: { api_key: "issued-by-gated" } });
    gated.release();
    expect((await rotating).body).toMatchObject({ version: 2, previous_version: 1 });
    expect((await tv.rest("GET", "/v1/secrets/partners/delta/api-key", { token })).body.data).toEqual({ api_key: "issued-by-gated" });
    expect((await tv.rest("GET", "/v1/secrets/partners/delta/api-key?stage=pending", { token })).body.error.code).toBe("version_not_found");
    // A grace period of 0s: verified and revoked in the runner's next pass.
    expect(await runDue()).toBe(1);
    expect((await tv.rest("GET", "/v1/rotation/secrets/partners/delta/api-key", { token })).body.last_run).toMatchObject({ status: "succeeded", step: "done" });
    expect((await tv.rest("GET", "/v1/secrets/partners/delta/api-key?version=1", { token })).body.error.code).toBe("version_not_found");
  });

  it("a failing propagation check revokes nothing, marks the secret failing and delivers rotation.failed; rollback restores the previous version and revokes the new credential", async () => {
    const hook = await tv.rest("POST", "/v1/webhooks", { token, body: { name: "ops", url: receiver.url, events: ["rotation.failed"], secret: WHSEC } });
    expect(hook.status).toBe(201);
    const reconfigured = await configure("partners/beta/api-key", {
      provider: "webhook",
      config: { url: endpoint.url, revoke: true },
      grace_period: "1h",
      max_attempts: 2,
      propagation_check: { url: endpoint.healthUrl, expected_status: 200 },
    });
    expect(reconfigured.status).toBe(200);
    expect(reconfigured.body.propagation_check).toEqual({ url: endpoint.healthUrl, expected_status: 200, timeout: "5s" });
    endpoint.healthStatus = 503;
    const rotated = await tv.rest("POST", "/v1/secrets/partners/beta/api-key/rotate", { token, body: {} });
    expect(rotated.body).toMatchObject({ version: 2, previous_version: 1 });
    const issued = endpoint.issued.at(-1)!;
    await runDue(); // verify, attempt 1: retried after the backoff
    let run = (await tv.rest("GET", "/v1/rotation/secrets/partners/beta/api-key/runs", { token })).body.data[0];
    expect(run).toMatchObject({ status: "running", step: "verify", attempts: 1 });
    expect(run.error).toMatch(/propagation check answered 503, expected 200/);
    clock.advance(11_000);
    await runDue(); // attempt 2: the last
    run = (await tv.rest("GET", "/v1/rotation/secrets/partners/beta/api-key/runs", { token })).body.data[0];
    expect(run).toMatchObject({ status: "failed", step: "verify", attempts: 2 });
    expect(endpoint.revoked).not.toContain("old-2");
    expect(endpoint.valid.has("old-2") && endpoint.valid.has(issued)).toBe(true);
    expect((await tv.rest("GET", "/v1/rotation/secrets?status=failed", { token })).body.data.map((r: any) => r.path)).toEqual(["partners/beta/api-key"]);
    // Both stay valid past the grace period: the previous version is still readable.
    clock.advance(3 * HOUR);
    expect(await runDue()).toBe(0);
    expect((await tv.rest("GET", "/v1/secrets/partners/beta/api-key?stage=previous", { token })).body.data).toEqual({ api_key: "old-2" });

    // Told on the first failed attempt (will_retry, next_attempt_at) and again when the run gives up.
    const failed = (await outbox(tv, "pr")).filter((e) => e.event_type === "rotation.failed");
    expect(failed).toHaveLength(2);
    expect(failed[0]!.data).toMatchObject({ step: "verify", attempt: 1, will_retry: true });
    expect(failed[1]!.data).toMatchObject({ step: "verify", run_id: run.id, provider: "webhook", revoked: false, will_retry: false });
    await tv.vault.webhookDelivery.runDispatchOnce();
    await tv.vault.webhookDelivery.runDeliveryOnce();
    expect(receiver.received.map((d) => d.event?.event_type)).toEqual(["rotation.failed", "rotation.failed"]);

    const rolled = await tv.rest("POST", "/v1/rotation/secrets/partners/beta/api-key/rollback", { token });
    expect(rolled.status).toBe(200);
    expect(rolled.body).toMatchObject({ id: run.id, status: "rolled_back" });
    expect(rolled.body.steps.at(-1)).toMatchObject({ step: "revoke_new", status: "succeeded" });
    expect((await tv.rest("GET", "/v1/secrets/partners/beta/api-key", { token })).body).toMatchObject({ version: 1, data: { api_key: "old-2" } });
    expect((await tv.rest("GET", "/v1/secrets/partners/beta/api-key?version=2", { token })).body.error.code).toBe("version_not_found");
    expect(endpoint.revoked).toContain(issued);
    expect(endpoint.valid.has(issued)).toBe(false);
    expect(endpoint.valid.has("old-2")).toBe(true);
    expect((await tv.rest("GET", "/v1/rotation/secrets/partners/beta/api-key", { token })).body.status).toBe("active");
    expect((await tv.rest("POST", "/v1/rotation/secrets/partners/beta/api-key/rollback", { token })).body.error.code).toBe("failed_precondition");
    endpoint.healthStatus = 200;
  });

  it("deletes a binding and keeps the secret; works over gRPC with the contract's error reasons", async () => {
    const client = grpcClient(tv.port, "RotationService", "rotation.proto");
    const got = await unary(client, "GetSecretRotation", { path: "partners/gamma/password" }, token);
    expect(got).toMatchObject({ path: "partners/gamma/password", provider: "generated", status: "active" });
    expect(got.has_credentials ?? false).toBe(false);
    const err = await unary(client, "ConfigureSecretRotation", { path: "partners/gamma/password", provider: "stripe" }, token).catch((e) => e);
    expect(err.code).toBe(3);
    expect(reasonOf(err)).toBe("invalid_request");
    expect(await unary(client, "DeleteSecretRotation", { path: "partners/gamma/password" }, token)).toMatchObject({ deleted: true });
    expect((await tv.rest("GET", "/v1/rotation/secrets/partners/gamma/password", { token })).body.error.code).toBe("secret_not_found");
    expect((await tv.rest("GET", "/v1/secrets/partners/gamma/password", { token })).body.data).toEqual({ password: "g" });
    client.close();
  });
});
