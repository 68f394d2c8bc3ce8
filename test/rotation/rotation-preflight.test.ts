// The pre-flight as a route (`POST /v1/rotation/secrets/{path}/test`, REST and gRPC) and as the
// first step of every run: rejected credentials fail the run at once without retries, an
// unreachable provider is retried (the first failed attempt told with will_retry), and a run that
// passes goes on to create. The webhook endpoint on loopback speaks the `test` action.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { grpcClient, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV } from "./provider-replica.js";
import { longToken, outbox } from "./rotation-fixtures.js";

const TENANT = "preflight";
const SECRET = "preflight-hook-secret";

describe("pre-flight of a provider rotation", () => {
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

  const rest = (method: string, path: string, body?: unknown) => tv.rest(method, path, { token, body });
  const runs = async (path: string) => (await rest("GET", `/v1/rotation/secrets/${path}/runs`)).body.data;
  const failedEvents = async (path: string) => (await outbox(tv, TENANT)).filter((e) => e.path === path && e.event_type === "rotation.failed");

  async function bind(path: string, config: Record<string, unknown>, secret = SECRET, maxAttempts = 3) {
    endpoint.valid.add(`initial-${path}`);
    expect((await rest("PUT", `/v1/secrets/${path}`, { data: { api_key: `initial-${path}` } })).status).toBe(201);
    const put = (credentials: Record<string, unknown>) =>
      rest("PUT", `/v1/rotation/secrets/${path}`, { provider: "webhook", config, credentials, grace_period: "1h", max_attempts: maxAttempts });
    expect((await put({ secret })).status).toBe(201);
    return put;
  }

  it("POST …/test answers ok or the failed check, over REST and gRPC, and changes nothing", async () => {
    const path = "pf/route";
    const put = await bind(path, { url: endpoint.url, test: true, revoke: true });
    const issued = endpoint.issued.length;
    const ok = await rest("POST", `/v1/rotation/secrets/${path}/test`, {});
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ path, provider: "webhook", ok: true, checks: [{ name: "reachable", ok: true }, { name: "credentials", ok: true }] });
    expect(typeof ok.body.checked_at).toBe("string");

    expect((await put({ secret: "a-wrong-hook-secret" })).status).toBe(200);
    const rejected = await rest("POST", `/v1/rotation/secrets/${path}/test`, {});
    expect(rejected.status).toBe(200);
    expect(rejected.body.ok).toBe(false);
    expect(rejected.body.checks.at(-1)).toMatchObject({ name: "credentials", ok: false });
    expect(rejected.body.checks.at(-1).message).toContain("401");
    expect(JSON.stringify(rejected.body)).not.toContain("a-wrong-hook-secret");

    const client = grpcClient(tv.port, "RotationService", "rotation.proto");
    const viaGrpc = await unary(client, "TestSecretRotation", { path }, token);
    // proto3 leaves false out on the wire: absent is false.
    expect(viaGrpc).toMatchObject({ path, checks: [{ name: "reachable", ok: true }, { name: "credentials" }] });
    expect([viaGrpc.ok ?? false, viaGrpc.checks[1].ok ?? false]).toEqual([false, false]);

    expect(endpoint.issued.length).toBe(issued);
    expect(await runs(path)).toEqual([]);
    expect((await rest("POST", `/v1/rotation/secrets/pf/unbound/test`, {})).body.error.code).toBe("secret_not_found");
    const readOnly = await tv.token({ tenantId: TENANT, scopes: ["secrets:read"] });
    expect((await tv.rest("POST", `/v1/rotation/secrets/${path}/test`, { token: readOnly, body: {} })).status).toBe(403);
  });

  it("a run starts with step preflight, then creates", async () => {
    const path = "pf/run-ok";
    await bind(path, { url: endpoint.url, test: true, revoke: true });
    const res = await rest("POST", `/v1/secrets/${path}/rotate`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [run] = await runs(path);
    expect(run.steps.map((s: any) => s.step).slice(0, 3)).toEqual(["preflight", "create", "test"]);
    expect(run.steps[0].detail).toContain("the endpoint accepted the X-Webhook-Secret");
  });

  it("rejected credentials fail the run at preflight at once, without retries, and nothing is created", async () => {
    const path = "pf/run-rejected";
    const put = await bind(path, { url: endpoint.url, test: true, revoke: true }, "not-the-hook-secret", 3);
    const issued = endpoint.issued.length;
    const res = await rest("POST", `/v1/secrets/${path}/rotate`, {});
    expect(res.status).toBe(503);
    expect(res.body.error.message).toContain("preflight: credentials: the endpoint refused the X-Webhook-Secret");
    const [run] = await runs(path);
    expect(run).toMatchObject({ status: "failed", step: "preflight", attempts: 1, new_version: null });
    expect(run.steps.map((s: any) => `${s.step}:${s.status}`)).toEqual(["preflight:failed"]);
    expect(endpoint.issued.length).toBe(issued);
    const events = await failedEvents(path);
    expect(events.map((e) => e.data.will_retry)).toEqual([false]);
    expect(events[0]!.data).toMatchObject({ step: "preflight", ways_out: ["retry"] });
    expect(events[0]!.data.situation).toContain("POST /v1/rotation/secrets/pf/run-rejected/test");
    expect((await rest("GET", `/v1/rotation/secrets/${path}`)).body.status).toBe("failing");

    // The way out: store the right secret, check it, retry.
    expect((await put({ secret: SECRET })).status).toBe(200);
    expect((await rest("POST", `/v1/rotation/secrets/${path}/test`, {})).body.ok).toBe(true);
    const retried = await rest("POST", `/v1/rotation/secrets/${path}/retry`, {});
    expect(retried.body, JSON.stringify(retried.body)).toMatchObject({ status: "waiting_grace", new_version: 2 });
  });

  it("an unreachable provider is retried: the first failed attempt is told with will_retry and next_attempt_at, the last again", async () => {
    const path = "pf/run-unreachable";
    await bind(path, { url: "http://127.0.0.1:9/rotate-secret", test: true }, SECRET, 2);
    const res = await rest("POST", `/v1/secrets/${path}/rotate`, {});
    expect(res.status).toBe(503);
    expect(res.body.error.message).toContain("still at step preflight after attempt 1 failed");
    const [first] = await failedEvents(path);
    expect(first!.data).toMatchObject({ step: "preflight", attempt: 1, will_retry: true });
    expect(new Date(first!.data.next_attempt_at).getTime()).toBe(clock.now().getTime() + 10_000);
    clock.advance(10_001);
    await tv.vault.rotationRunner.runDue(clock.now());
    const events = await failedEvents(path);
    expect(events.map((e) => [e.data.attempt, e.data.will_retry])).toEqual([
      [1, true],
      [2, false],
    ]);
    const [run] = await runs(path);
    expect(run).toMatchObject({ status: "failed", step: "preflight", attempts: 2 });
    expect(run.error).toContain("preflight: reachable: the endpoint did not answer");
  });
});
