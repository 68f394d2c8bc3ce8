// Every failed state of a provider rotation has a way out, tested one by one against the webhook
// endpoint on loopback: verify failed before and after `revoke_at`, revoke failed, create failed,
// the provider unreachable, the stored provider credentials rejected. For each: the binding's
// status, the failure's message (what is current, what is still valid, what happens next), the
// call that resolves it (`rollback`, `retry`, `resolve`), and a rotation that works afterwards.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV } from "./provider-replica.js";
import { HOUR, longToken, outbox } from "./rotation-fixtures.js";

const TENANT = "ways-out";
const SECRET = "ways-out-secret";

describe("ways out of a failed provider rotation", () => {
  const clock = createManualClock("2026-09-01T08:00:00Z");
  let tv: TestVault;
  let token: string;
  let endpoint: CredentialEndpoint;

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV });
    token = await longToken(tv, TENANT);
    endpoint = await startCredentialEndpoint({ secret: SECRET, initial: [] });
  }, 120_000);
  afterAll(async () => {
    await tv?.close();
    await endpoint?.close();
  });

  const runDue = () => tv.vault.rotationRunner.runDue(clock.now());
  const rest = (method: string, path: string, body?: unknown) => tv.rest(method, path, { token, body });
  const rotate = (path: string) => rest("POST", `/v1/secrets/${path}/rotate`, {});
  const binding = async (path: string) => (await rest("GET", `/v1/rotation/secrets/${path}`)).body;
  const current = async (path: string) => (await rest("GET", `/v1/secrets/${path}`)).body.data.api_key as string;
  const failedEvents = async (path: string) => (await outbox(tv, TENANT)).filter((e) => e.path === path && e.event_type === "rotation.failed");

  async function bind(path: string, extra: Record<string, unknown> = {}) {
    const first = `initial-${path.replace(/\W/g, "-")}`;
    endpoint.valid.add(first);
    expect((await rest("PUT", `/v1/secrets/${path}`, { data: { api_key: first }, options: { expires_in: "90d" } })).status).toBe(201);
    const bound = await rest("PUT", `/v1/rotation/secrets/${path}`, {
      provider: "webhook",
      config: { url: endpoint.url, revoke: true },
      credentials: { secret: SECRET },
      grace_period: "1h",
      propagation_check: { url: endpoint.healthUrl },
      max_attempts: 1,
      ...extra,
    });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
    return first;
  }

  /** After a way out, the next rotation works end to end. */
  async function rotatesAgain(path: string) {
    clock.advance(HOUR + 1000);
    await runDue();
    const again = await rotate(path);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    clock.advance(HOUR + 1000);
    await runDue();
    await runDue();
    expect((await binding(path)).status).toBe("active");
    expect([...endpoint.valid]).toContain(await current(path));
  }

  it("verify failed before revoke_at: the message says the new version is current and the old one valid; retry once the check is fixed", async () => {
    const path = "ways/verify-retry";
    const first = await bind(path);
    endpoint.healthStatus = 503;
    expect((await rotate(path)).body).toMatchObject({ version: 2 });
    await runDue();
    const failing = await binding(path);
    expect(failing).toMatchObject({ status: "failing", last_run: { status: "failed", step: "verify" } });
    const [event] = await failedEvents(path);
    expect(event!.data.situation).toContain("Version 2 is current (promoted); version 1 is still valid at the provider");
    expect(event!.data.situation).not.toContain("unchanged");
    expect(event!.data.ways_out).toEqual(["retry", "resolve", "rollback"]);
    expect(endpoint.valid.has(first), "nothing revoked under doubt").toBe(true);

    endpoint.healthStatus = 200;
    const retried = await rest("POST", `/v1/rotation/secrets/${path}/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({ status: "waiting_grace", step: "revoke" });
    expect(retried.body.steps.map((s: any) => s.step).slice(-2)).toEqual(["retry", "verify"]);
    clock.advance(HOUR + 1000);
    await runDue();
    expect(endpoint.valid.has(first)).toBe(false);
    expect((await binding(path)).status).toBe("active");
    const retryAudit = await tv.vault.db.selectFrom("audit_events").select("action").where("target_tenant", "=", TENANT).where("path", "=", path).execute();
    expect(retryAudit.map((a) => a.action)).toEqual(expect.arrayContaining(["RotationRun.retry", "RetrySecretRotation"]));
    await rotatesAgain(path);
  });

  it("verify failed after revoke_at and a manual rotation failed before create: rollback still restores the previous version and its own expires_at", async () => {
    const path = "ways/verify-rollback";
    const first = await bind(path);
    const before = (await rest("GET", `/v1/secrets/metadata/${path}`)).body.expires_at ?? (await rest("GET", `/v1/secrets/${path}`)).body.expires_at;
    expect(before).toMatch(/^2026-11-30T/);
    endpoint.override = (req) => (req.json?.action === "rotate" ? { status: 200, body: JSON.stringify({ newValue: "short-lived", expiresAt: "2026-09-02T00:00:00Z" }) } : undefined);
    endpoint.valid.add("short-lived");
    endpoint.healthStatus = 503;
    expect((await rotate(path)).body).toMatchObject({ version: 2 });
    endpoint.override = undefined;
    expect((await rest("GET", `/v1/secrets/${path}`)).body.expires_at).toBe("2026-09-02T00:00:00Z");
    await runDue();
    clock.advance(HOUR + 1000);
    const manual = await rotate(path); // fails before create: the earlier old key is revoked only after the check passes
    expect(manual.status).toBe(503);
    expect(manual.body.error.message).toContain("Version 2 is still current");

    const rolled = await rest("POST", `/v1/rotation/secrets/${path}/rollback`);
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(200);
    expect(rolled.body).toMatchObject({ status: "rolled_back", new_version: 2, old_version: 1 });
    const read = (await rest("GET", `/v1/secrets/${path}`)).body;
    expect(read).toMatchObject({ version: 1, data: { api_key: first } });
    expect(read.expires_at, "the restored version keeps its own expiry").toBe(before);
    expect(endpoint.valid.has("short-lived"), "the rolled-back credential is revoked").toBe(false);
    expect((await binding(path)).status).toBe("active");
    const again = await rest("POST", `/v1/rotation/secrets/${path}/rollback`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "failed_precondition" });
    expect(again.body.error.message).toContain("already revoked");
    endpoint.healthStatus = 200;
    await rotatesAgain(path);
  });

  it("a propagation check the operator knows is wrong: resolve accepts the new credential and revokes the old one now, audited", async () => {
    const path = "ways/resolve";
    const first = await bind(path);
    endpoint.healthStatus = 500;
    expect((await rotate(path)).body).toMatchObject({ version: 2 });
    await runDue();
    const resolved = await rest("POST", `/v1/rotation/secrets/${path}/resolve`, { reason: "health route is broken, consumers are fine" });
    expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
    expect(resolved.body).toMatchObject({ status: "succeeded", step: "done" });
    expect(resolved.body.steps.at(-1).detail).toContain("propagation check skipped");
    expect(endpoint.valid.has(first)).toBe(false);
    expect((await rest("GET", `/v1/secrets/${path}?version=1`)).body.error.code).toBe("version_not_found");
    const revoked = (await outbox(tv, TENANT)).filter((e) => e.path === path && e.event_type === "rotation.revoked");
    expect(revoked.at(-1)!.data).toMatchObject({ old_version: 1, check_skipped: true, reason: "health route is broken, consumers are fine" });
    const actions = (await tv.vault.db.selectFrom("audit_events").select("action").where("target_tenant", "=", TENANT).where("path", "=", path).execute()).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["RotationRun.resolve", "ResolveSecretRotation"]));
    expect((await rest("POST", `/v1/rotation/secrets/${path}/resolve`, {})).body.error.code).toBe("failed_precondition");
    endpoint.healthStatus = 200;
    await rotatesAgain(path);
  });

  it("revoke failed: both credentials stay valid; retry revokes once the endpoint answers again", async () => {
    const path = "ways/revoke-failed";
    const first = await bind(path);
    expect((await rotate(path)).body).toMatchObject({ version: 2 });
    await runDue();
    endpoint.override = (req) => (req.json?.action === "revoke" ? { status: 500, body: "{}" } : undefined);
    clock.advance(HOUR + 1000);
    await runDue();
    expect(await binding(path)).toMatchObject({ status: "failing", last_run: { status: "failed", step: "revoke" } });
    const [event] = await failedEvents(path);
    expect(event!.data.situation).toContain("revoking version 1 at the provider failed");
    expect(endpoint.valid.has(first)).toBe(true);
    endpoint.override = undefined;
    const retried = await rest("POST", `/v1/rotation/secrets/${path}/retry`, {});
    expect(retried.body, JSON.stringify(retried.body)).toMatchObject({ status: "succeeded", step: "done" });
    expect(endpoint.valid.has(first)).toBe(false);
    await rotatesAgain(path);
  });

  it("create failed: nothing changed for readers; the first failed attempt is told at once with will_retry; retry after the fix", async () => {
    const path = "ways/create-failed";
    const first = await bind(path, { max_attempts: 2 });
    endpoint.override = (req) => (req.json?.action === "rotate" ? { status: 500, body: "{}" } : undefined);
    const res = await rotate(path);
    expect(res.status).toBe(503);
    const [early] = await failedEvents(path);
    expect(early!.data).toMatchObject({ will_retry: true, attempt: 1, step: "create" });
    expect(typeof early!.data.next_attempt_at).toBe("string");
    clock.advance(11_000);
    await runDue();
    const events = await failedEvents(path);
    expect(events.map((e) => e.data.will_retry)).toEqual([true, false]);
    expect(events[1]!.data.situation).toContain("Version 1 is still current");
    expect(events[1]!.data.ways_out).toEqual(["retry"]);
    expect(await current(path)).toBe(first);
    expect((await binding(path)).status).toBe("failing");
    endpoint.override = undefined;
    const retried = await rest("POST", `/v1/rotation/secrets/${path}/retry`, {});
    expect(retried.body, JSON.stringify(retried.body)).toMatchObject({ status: "waiting_grace", new_version: 2 });
    expect(await current(path)).not.toBe(first);
    await rotatesAgain(path);
  });

  it("the provider unreachable, then the stored credentials rejected: fixed with PUT, then retry", async () => {
    const path = "ways/unreachable";
    await bind(path, { config: { url: "http://127.0.0.1:9/rotate-secret", revoke: true } });
    expect((await rotate(path)).status).toBe(503);
    expect(await binding(path)).toMatchObject({ status: "failing", last_run: { status: "failed" } });
    const put = (credentials: Record<string, unknown>) =>
      rest("PUT", `/v1/rotation/secrets/${path}`, { provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials, grace_period: "1h", propagation_check: { url: endpoint.healthUrl }, max_attempts: 1 });
    expect((await put({ secret: "wrong" })).status).toBe(200);
    const rejected = await rest("POST", `/v1/rotation/secrets/${path}/retry`, {});
    expect(rejected.body, JSON.stringify(rejected.body)).toMatchObject({ status: "failed" });
    expect(rejected.body.error).toContain("401");
    expect((await put({ secret: SECRET })).status).toBe(200);
    const retried = await rest("POST", `/v1/rotation/secrets/${path}/retry`, {});
    expect(retried.body, JSON.stringify(retried.body)).toMatchObject({ status: "waiting_grace", new_version: 2 });
    await rotatesAgain(path);
  });

  it("retry and resolve answer failed_precondition when the latest run did not fail", async () => {
    const path = "ways/healthy";
    await bind(path);
    const retry = await rest("POST", `/v1/rotation/secrets/${path}/retry`, {});
    expect(retry.status).toBe(409);
    expect(retry.body.error.message).toContain("no rotation run");
    expect((await rest("POST", `/v1/rotation/secrets/missing/retry`, {})).body.error.code).toBe("secret_not_found");
  });
});
