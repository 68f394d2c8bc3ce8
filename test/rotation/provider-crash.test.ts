// The crash matrix: a run interrupted at each step, by a replica that stalls there (as a killed
// process would: its claim stays until the lease ends, and whatever it does afterwards is fenced
// off) or by provider calls that fail, is finished or failed correctly by another replica.
// Invariants after every case: the current credential is valid at the system, no credential but
// the current (and, before revoke, the previous) stays valid, and no version number is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { inTransaction } from "../../src/db/database.js";
import { ScaiVaultError } from "../../src/errors.js";
import type { RotationProvider } from "../../src/provider-rotation/providers/provider.js";
import { createWebhookProvider } from "../../src/provider-rotation/providers/webhook.js";
import { startRun } from "../../src/provider-rotation/rotation-runner.js";
import { createAllowList } from "../../src/outbound/ssrf-guard.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV, startReplica, type Replica } from "./provider-replica.js";
import { HOUR, longToken, outbox } from "./rotation-fixtures.js";

const SECRET = "crash-hook-secret";
const LEASE_MS = 121_000;

/** What the next `test` step does at the provider: pass, fail, or wait for the test to let it go. */
const testHook: { mode: "pass" | "fail" | "hang"; waiting: (() => void)[]; entered: number } = { mode: "pass", waiting: [], entered: 0 };

/** The webhook provider with a test step the matrix can fail or stall (the webhook itself has none to interrupt). */
function crashable(): RotationProvider {
  const webhook = createWebhookProvider({ allow: createAllowList(["127.0.0.1"]), timeoutMs: 10_000 });
  return {
    ...webhook,
    name: "crashable",
    async test(call, issued) {
      testHook.entered++;
      if (testHook.mode === "fail") throw new ScaiVaultError("unavailable", "the new credential was refused");
      if (testHook.mode === "hang") {
        await new Promise<void>((resolve) => testHook.waiting.push(resolve));
        throw new ScaiVaultError("unavailable", "stalled worker woke up");
      }
      return webhook.test(call, issued);
    },
  };
}

describe("provider rotation crash matrix", () => {
  const clock = createManualClock("2026-04-01T08:00:00Z");
  let tv: TestVault;
  let b: Replica;
  let token: string;
  let endpoint: CredentialEndpoint;
  const a = () => tv.vault.rotationRunner;

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV, extraProviders: () => [crashable()] });
    b = await startReplica(tv, clock, () => [crashable()]);
    token = await longToken(tv, "crash");
    endpoint = await startCredentialEndpoint({ secret: SECRET });
  }, 300_000);
  afterAll(async () => {
    await b?.stop();
    await tv?.close();
    await endpoint?.close();
  });

  /** A secret whose credential `init-<name>` is valid at the system, bound to the crashable webhook provider, with a run started. */
  async function setUp(name: string, extra: Record<string, unknown> = {}) {
    const path = `crash/${name}`;
    endpoint.valid.add(`init-${name}`);
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { key: `init-${name}` } } })).status).toBe(201);
    const configured = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, {
      token,
      body: { provider: "crashable", config: { url: endpoint.url, revoke: true }, credentials: { secret: SECRET }, grace_period: "1h", propagation_check: { url: endpoint.healthUrl }, ...extra },
    });
    expect(configured.status).toBe(201);
    const secret = await tv.vault.db.selectFrom("secrets").selectAll().where("tenant_id", "=", "crash").where("path", "=", path).executeTakeFirstOrThrow();
    const binding = await tv.vault.db.selectFrom("secret_rotations").selectAll().where("secret_id", "=", secret.id).executeTakeFirstOrThrow();
    const { run } = await inTransaction(tv.vault.db, (tx) => startRun(tx, { secret, binding, triggeredBy: "manual", actor: "tester", now: clock.now() }));
    return { path, runId: run.id };
  }

  const runOf = (id: string) => tv.vault.db.selectFrom("rotation_runs").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
  const current = async (path: string) => (await tv.rest("GET", `/v1/secrets/${path}`, { token })).body;

  /** The invariants every case ends with; `previousValid` says whether the old credential may still be valid. */
  async function checkInvariants(path: string, name: string, previousValid: boolean) {
    const now = (await current(path)).data.key as string;
    const mine = [`init-${name}`, ...(endpoint.issuedFor.get(path) ?? [])];
    const stillValid = mine.filter((v) => endpoint.valid.has(v));
    expect(endpoint.valid.has(now), "the current credential is valid").toBe(true);
    const allowed = new Set([now]);
    if (previousValid) {
      const prev = await tv.rest("GET", `/v1/secrets/${path}?stage=previous`, { token });
      if (prev.status === 200) allowed.add(prev.body.data.key);
    }
    expect(stillValid.filter((v) => !allowed.has(v)), "no other credential stays valid").toEqual([]);
    const secret = await tv.vault.db.selectFrom("secrets").select("id").where("tenant_id", "=", "crash").where("path", "=", path).executeTakeFirstOrThrow();
    const numbers = (await tv.vault.db.selectFrom("secret_versions").select("version").where("secret_id", "=", secret.id).orderBy("version").execute()).map((v) => v.version);
    expect(numbers, "no version number is lost").toEqual(numbers.map((_, i) => i + 1));
  }

  /** Lets the stalled replica A go on, waits for it, and checks it changed nothing. */
  async function finishStalled(stalled: Promise<number>, runId: string) {
    const before = await runOf(runId);
    endpoint.releaseHeld("serve");
    for (const wake of testHook.waiting.splice(0)) wake();
    await stalled;
    const after = await runOf(runId);
    const real = (steps: { step: string }[]) => steps.filter((s) => s.step !== "discard");
    expect(real(after.steps)).toEqual(real(before.steps));
    expect(after.status).toBe(before.status);
  }

  it("killed during create: the second replica creates, the stalled one's late credential is discarded", async () => {
    const { path, runId } = await setUp("during-create");
    endpoint.override = (req) => (req.json?.action === "rotate" && req.json.path === path ? "hang" : undefined);
    const stalled = a().runDue(clock.now());
    await endpoint.waitHeld(1);
    endpoint.override = undefined;
    clock.advance(LEASE_MS);
    await b.runner.runDue(clock.now());
    expect(await runOf(runId)).toMatchObject({ status: "waiting_grace", step: "revoke" });
    await finishStalled(stalled, runId);
    const issued = endpoint.issuedFor.get(path)!;
    expect(issued).toHaveLength(2);
    expect((await current(path)).data.key).toBe(issued[0]);
    expect(endpoint.revoked).toContain(issued[1]);
    clock.advance(HOUR);
    await b.runner.runDue(clock.now());
    expect(await runOf(runId)).toMatchObject({ status: "succeeded", step: "done" });
    expect(endpoint.revoked.filter((v) => v === "init-during-create")).toHaveLength(1);
    await checkInvariants(path, "during-create", false);
  });

  it("killed after create (stalled in test): the second replica resumes at test and finishes", async () => {
    const { path, runId } = await setUp("after-create");
    testHook.mode = "hang";
    const entered = testHook.entered;
    const stalled = a().runDue(clock.now());
    while (testHook.entered === entered) await new Promise((r) => setTimeout(r, 20));
    testHook.mode = "pass";
    expect(await runOf(runId)).toMatchObject({ step: "test", new_version: 2 });
    clock.advance(LEASE_MS);
    await b.runner.runDue(clock.now());
    await finishStalled(stalled, runId);
    expect(endpoint.issuedFor.get(path)).toHaveLength(1);
    clock.advance(HOUR);
    await b.runner.runDue(clock.now());
    expect(await runOf(runId)).toMatchObject({ status: "succeeded", old_version: 1, new_version: 2 });
    await checkInvariants(path, "after-create", false);
  });

  it("killed after promote (stalled in verify): the second replica verifies, nothing is revoked early", async () => {
    const { path, runId } = await setUp("after-promote");
    endpoint.override = (req) => (req.method === "GET" && req.url.startsWith("/health") ? "hang" : undefined);
    const stalled = a().runDue(clock.now());
    await endpoint.waitHeld(1);
    endpoint.override = undefined;
    expect(await runOf(runId)).toMatchObject({ step: "verify", status: "running" });
    expect((await current(path)).version).toBe(2);
    clock.advance(LEASE_MS);
    await b.runner.runDue(clock.now());
    expect(await runOf(runId)).toMatchObject({ step: "revoke", status: "waiting_grace" });
    expect(endpoint.revoked).not.toContain("init-after-promote");
    await finishStalled(stalled, runId);
    await checkInvariants(path, "after-promote", true);
    clock.advance(HOUR);
    await b.runner.runDue(clock.now());
    expect(endpoint.revoked.filter((v) => v === "init-after-promote")).toHaveLength(1);
    await checkInvariants(path, "after-promote", false);
  });

  it("killed after verify (stalled in revoke): the second replica revokes once", async () => {
    const { path, runId } = await setUp("after-verify");
    await a().runDue(clock.now());
    clock.advance(HOUR + 1000);
    endpoint.override = (req) => (req.json?.action === "revoke" && req.json.path === path ? "hang" : undefined);
    const stalled = a().runDue(clock.now());
    await endpoint.waitHeld(1);
    endpoint.override = undefined;
    clock.advance(LEASE_MS);
    await b.runner.runDue(clock.now());
    expect(await runOf(runId)).toMatchObject({ status: "succeeded", step: "done" });
    // The stalled process was killed: its held request never takes effect.
    endpoint.releaseHeld("drop");
    await stalled;
    expect(endpoint.revoked.filter((v) => v === "init-after-verify")).toHaveLength(1);
    await checkInvariants(path, "after-verify", false);
  });

  it("create keeps failing across replicas: after max_attempts the run fails, current stays current, rotation.failed", async () => {
    const { path, runId } = await setUp("create-fails");
    endpoint.override = (req) => (req.json?.action === "rotate" && req.json.path === path ? { status: 500, body: "{}" } : undefined);
    await a().runDue(clock.now());
    expect(await runOf(runId)).toMatchObject({ status: "running", step: "create", attempts: 1 });
    clock.advance(10_000);
    await b.runner.runDue(clock.now());
    expect(await runOf(runId)).toMatchObject({ attempts: 2 });
    clock.advance(19_000);
    expect(await a().runDue(clock.now())).toBe(0); // the backoff doubles: 20 s
    clock.advance(1_000);
    await a().runDue(clock.now());
    endpoint.override = undefined;
    const run = await runOf(runId);
    expect(run).toMatchObject({ status: "failed", step: "create", attempts: 3 });
    expect(run.steps.map((s) => s.status)).toEqual(["succeeded", "retrying", "retrying", "failed"]); // preflight, then create three times
    expect((await current(path)).version).toBe(1);
    expect((await tv.rest("GET", `/v1/rotation/secrets/${path}`, { token })).body.status).toBe("failing");
    const failed = (await outbox(tv, "crash")).filter((e) => e.event_type === "rotation.failed" && e.path === path);
    // Told on the first failed attempt (will_retry) and again when the run gives up.
    expect(failed.map((e) => `${e.data.step}:${e.data.will_retry}`)).toEqual(["create:true", "create:false"]);
    await checkInvariants(path, "create-fails", false);
  });

  it("test keeps failing: the pending version is discarded and its credential revoked at the provider", async () => {
    const { path, runId } = await setUp("test-fails", { max_attempts: 2 });
    testHook.mode = "fail";
    await a().runDue(clock.now());
    clock.advance(10_000);
    await b.runner.runDue(clock.now());
    testHook.mode = "pass";
    const run = await runOf(runId);
    expect(run).toMatchObject({ status: "failed", step: "test", new_version: 2 });
    expect(run.steps.at(-1)).toMatchObject({ step: "discard", status: "succeeded" });
    const issued = endpoint.issuedFor.get(path)!;
    expect(issued).toHaveLength(1);
    expect(endpoint.revoked).toContain(issued[0]);
    expect((await current(path))).toMatchObject({ version: 1, data: { key: "init-test-fails" } });
    expect((await tv.rest("GET", `/v1/secrets/${path}?stage=pending`, { token })).body.error.code).toBe("version_not_found");
    await checkInvariants(path, "test-fails", false);
    // Version 2 is spent: the next write is 3, never a reused number.
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { key: "init-test-fails" } } })).body.version).toBe(3);
  });

  it("a write between test and promote: promote refuses, the pending credential is discarded, the write stays current", async () => {
    const { path, runId } = await setUp("write-before-promote");
    testHook.mode = "hang";
    const entered = testHook.entered;
    const stalled = a().runDue(clock.now());
    while (testHook.entered === entered) await new Promise((r) => setTimeout(r, 20));
    testHook.mode = "pass";
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { key: "init-write-before-promote" } } })).body.version).toBe(3);
    clock.advance(LEASE_MS);
    await b.runner.runDue(clock.now());
    await finishStalled(stalled, runId);
    expect(await runOf(runId)).toMatchObject({ status: "failed", step: "promote" });
    expect(endpoint.revoked).toContain(endpoint.issuedFor.get(path)![0]);
    expect((await current(path)).version).toBe(3);
    await checkInvariants(path, "write-before-promote", false);
  });

  it("revoke keeps failing: both credentials stay valid, the previous version stays readable, status failing", async () => {
    const { path, runId } = await setUp("revoke-fails", { max_attempts: 2 });
    await a().runDue(clock.now());
    clock.advance(HOUR + 1000);
    endpoint.override = (req) => (req.json?.action === "revoke" && req.json.path === path ? { status: 503 } : undefined);
    await a().runDue(clock.now());
    clock.advance(10_000);
    await b.runner.runDue(clock.now());
    endpoint.override = undefined;
    expect(await runOf(runId)).toMatchObject({ status: "failed", step: "revoke" });
    expect(endpoint.valid.has("init-revoke-fails")).toBe(true);
    clock.advance(24 * HOUR);
    expect((await tv.rest("GET", `/v1/secrets/${path}?stage=previous`, { token })).body.data).toEqual({ key: "init-revoke-fails" });
    expect((await tv.rest("GET", `/v1/rotation/secrets/${path}`, { token })).body.status).toBe("failing");
    await checkInvariants(path, "revoke-fails", true);
  });
});
