// Three replicas, 300 secrets bound to the webhook provider falling due at once: the scheduler
// starts one run per secret and the runners share the runs through their claims, so each
// secret is rotated exactly once and each old credential is revoked exactly once.
//
// PostgreSQL-only, like the other replica tests: the embedded database belongs to one process, so
// "three replicas" there would be three runners taking turns on one connection, which proves
// nothing about claims across replicas. Skipped on the embedded run; the PostgreSQL run without
// DATABASE_URL fails in test/support/database.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV, startReplica, type Replica } from "./provider-replica.js";
import { HOUR, longToken } from "./rotation-fixtures.js";

const SECRET = "replica-hook-secret";
const COUNT = 300;

describe.skipIf(testDatabaseKind === "embedded")("provider rotation on three replicas", () => {
  const clock = createManualClock("2026-05-01T00:00:00Z");
  let tv: TestVault;
  let replicas: Replica[] = [];
  let token: string;
  let endpoint: CredentialEndpoint;
  const paths = Array.from({ length: COUNT }, (_, i) => `fleet/svc-${String(i).padStart(3, "0")}/api-key`);

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV });
    replicas = [await startReplica(tv, clock), await startReplica(tv, clock)];
    token = await longToken(tv, "fleet");
    endpoint = await startCredentialEndpoint({ secret: SECRET, initial: paths.map((p) => `init:${p}`) });
    const policy = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "hourly", interval: "1h", grace_period: "1h" } });
    expect(policy.status).toBe(201);
    for (let i = 0; i < COUNT; i += 25) {
      await Promise.all(
        paths.slice(i, i + 25).map(async (path) => {
          const put = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { api_key: `init:${path}` } } });
          expect(put.status).toBe(201);
          const bound = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, {
            token,
            body: { provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials: { secret: SECRET }, policy_id: "rot_hourly" },
          });
          expect(bound.status).toBe(201);
        }),
      );
    }
  }, 600_000);
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await tv?.close();
    await endpoint?.close();
  });

  it("rotates each due secret exactly once and revokes each old credential exactly once", async () => {
    clock.advance(HOUR + 1000);
    const now = clock.now();
    const ticks = [tv.vault.scheduler.runSchedulerTick(now), ...replicas.map((r) => r.schedulerTick!(now))];
    await Promise.all(ticks);
    const runs = await tv.vault.db.selectFrom("rotation_runs").select(["id", "secret_id", "triggered_by", "actor"]).where("tenant_id", "=", "fleet").execute();
    expect(runs).toHaveLength(COUNT);
    expect(new Set(runs.map((r) => r.secret_id)).size).toBe(COUNT);
    expect(runs.every((r) => r.triggered_by === "scheduled" && r.actor === "system:rotation-scheduler")).toBe(true);

    const runners = [tv.vault.rotationRunner, ...replicas.map((r) => r.runner)];
    const worked = await Promise.all(runners.map((r) => r.runDue(now)));
    expect(worked.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(COUNT);
    expect(endpoint.requests.filter((r) => r.json?.action === "rotate")).toHaveLength(COUNT);
    for (const path of paths) expect(endpoint.issuedFor.get(path), path).toHaveLength(1);

    clock.advance(HOUR + 1000);
    await Promise.all(runners.map((r) => r.runDue(clock.now())));
    const problems = tv.logs.filter((l) => /"level":"(warn|error)"/.test(l) && l.includes("rotation")).slice(0, 5);
    expect(problems, problems.join("\n")).toEqual([]);
    expect(endpoint.revoked).toHaveLength(COUNT);
    expect(new Set(endpoint.revoked)).toEqual(new Set(paths.map((p) => `init:${p}`)));

    const final = await tv.vault.db.selectFrom("rotation_runs").select(["status", "old_version", "new_version"]).where("tenant_id", "=", "fleet").execute();
    expect(final.every((r) => r.status === "succeeded" && r.old_version === 1 && r.new_version === 2)).toBe(true);
    const valid = paths.filter((p) => endpoint.valid.has(endpoint.issuedFor.get(p)![0]!) && !endpoint.valid.has(`init:${p}`));
    expect(valid).toHaveLength(COUNT);
    const sample = await tv.rest("GET", `/v1/secrets/${paths[123]}`, { token });
    expect(sample.body).toMatchObject({ version: 2, data: { api_key: endpoint.issuedFor.get(paths[123]!)![0] } });
    const audited = await tv.vault.db
      .selectFrom("audit_events")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("target_tenant", "=", "fleet")
      .where("action", "=", "RotationRun.revoke")
      .where("actor", "=", "system:rotation-scheduler")
      .executeTakeFirstOrThrow();
    expect(Number(audited.n)).toBe(COUNT);
  }, 600_000);
});
