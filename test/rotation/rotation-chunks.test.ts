import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { createEnvelope } from "../../src/crypto/envelope.js";
import { loadMasterKey } from "../../src/crypto/master-key.js";
import { connectPostgres, type DatabaseHandle } from "../../src/db/database.js";
import { silentLogger } from "../../src/log.js";
import { createRotationEngine } from "../../src/rotation-policies/rotation-engine.js";
import { createPolicyRuns } from "../../src/provider-rotation/policy-runs.js";
import { createRotationScheduler } from "../../src/rotation-policies/rotation-scheduler.js";
import { testDatabaseKind } from "../support/database.js";
import type { TestVault } from "../support/vault.js";
import { DAY, MINUTE, corruptCurrentVersion, longToken, rotationEvents, startRotationVault } from "./rotation-fixtures.js";

/**
 * The scheduler handles the claims of a chunk in one transaction. These tests make one claim of a
 * chunk fail for real and check that the others still rotate, exactly once, and that the failed
 * one ends as it would have on its own.
 */
describe("rotation claims processed in chunks", () => {
  const clock = createManualClock("2026-01-01T00:00:00Z");
  const pools: DatabaseHandle[] = [];
  let tv: TestVault;
  beforeAll(async () => {
    tv = await startRotationVault(clock);
  });
  afterAll(async () => {
    for (const p of pools) await p.close();
    await tv?.close();
  });
  beforeEach(() => clock.set("2026-01-01T00:00:00Z"));
  afterEach(async () => {
    await tv.vault.db.deleteFrom("rotation_policies").execute();
  });

  const tick = () => tv.vault.scheduler.runSchedulerTick();
  const paths = (tenant: string) => Array.from({ length: 6 }, (_, i) => `${tenant}/s${i}`);

  /** A tenant with a daily auto-generating policy and six secrets on it (a chunk's worth), due in a day. */
  async function dailySecrets(tenant: string, options: Record<string, unknown> = {}) {
    const token = await longToken(tv, tenant);
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } });
    for (const path of paths(tenant)) {
      await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { password: "initial" }, options: { rotation_policy_id: "rot_daily", ...options } } });
    }
    return token;
  }

  /** Each secret's current version, by path. */
  async function currentVersions(tenant: string): Promise<Record<string, number>> {
    const rows = await tv.vault.db.selectFrom("secrets").select(["path", "current_version"]).where("tenant_id", "=", tenant).execute();
    return Object.fromEntries(rows.map((r) => [r.path, r.current_version]));
  }

  /** `paths(tenant)` at version 2, except `behind` still at 1. */
  const rotatedBut = (tenant: string, behind: string) => Object.fromEntries(paths(tenant).map((p) => [p, p === behind ? 1 : 2]));

  async function historyOf(token: string) {
    const res = await tv.rest("GET", "/v1/rotation/policies/rot_daily/history", { token });
    return res.body.data.map((i: any) => [i.secret_path, i.status, i.old_version, i.new_version ?? null]).sort();
  }

  it("records a failed generation in the chunk's transaction while the other claims rotate", async () => {
    const token = await dailySecrets("chunk-gen");
    await corruptCurrentVersion(tv, "chunk-gen", "chunk-gen/s2");
    clock.advance(DAY);

    expect(await tick()).toMatchObject({ claimed: 6, rotated: 5, failed: 1, errors: 0, stale: 0 });
    expect(tv.logs.filter((l) => l.includes("a chunk of rotation claims failed"))).toEqual([]);
    expect(await currentVersions("chunk-gen")).toEqual(rotatedBut("chunk-gen", "chunk-gen/s2"));
    expect(await historyOf(token)).toEqual(
      paths("chunk-gen").map((p) => (p === "chunk-gen/s2" ? [p, "failed", 1, null] : [p, "success", 1, 2])),
    );
    const failures = (await rotationEvents(tv, "chunk-gen")).filter((e) => e.event_type === "rotation.failed");
    expect(failures.map((e) => [e.path, e.data.attempt, e.data.will_retry, e.data.next_attempt_at])).toEqual([
      ["chunk-gen/s2", 1, true, "2026-01-02T00:05:00Z"],
    ]);

    // the failed attempt scheduled its retry, as a claim on its own would have
    expect((await tick()).claimed).toBe(0);
    clock.advance(5 * MINUTE);
    expect(await tick()).toMatchObject({ claimed: 1, failed: 1 });
  });

  it("redoes each claim on its own when the chunk's transaction fails: the bad claim errors alone, the others rotate once", async () => {
    const token = await dailySecrets("chunk-bad");
    // A stray row where s3's next version goes: its rotation fails in the database, aborting the chunk.
    const secret = await tv.vault.db.selectFrom("secrets").selectAll().where("tenant_id", "=", "chunk-bad").where("path", "=", "chunk-bad/s3").executeTakeFirstOrThrow();
    const v1 = await tv.vault.db.selectFrom("secret_versions").selectAll().where("secret_id", "=", secret.id).executeTakeFirstOrThrow();
    await tv.vault.db.insertInto("secret_versions").values({ ...v1, version: 2 }).execute();
    clock.advance(DAY);

    expect(await tick()).toMatchObject({ claimed: 6, rotated: 5, failed: 0, errors: 1, stale: 0 });
    expect(tv.logs.some((l) => l.includes('"level":"warn"') && l.includes("a chunk of rotation claims failed"))).toBe(true);
    const errors = tv.logs.filter((l) => l.includes("rotation failed unexpectedly") && l.includes("chunk-bad/"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('"path":"chunk-bad/s3"');

    // nothing of the rolled-back chunk stayed: one new version, one history item, one event per rotated secret
    expect(await currentVersions("chunk-bad")).toEqual(rotatedBut("chunk-bad", "chunk-bad/s3"));
    const versions = await tv.vault.db
      .selectFrom("secret_versions as v")
      .innerJoin("secrets as s", "s.id", "v.secret_id")
      .select(["s.path", "v.version"])
      .where("s.tenant_id", "=", "chunk-bad")
      .orderBy("s.path")
      .orderBy("v.version")
      .execute();
    expect(versions.map((v) => `${v.path}@${v.version}`)).toEqual(paths("chunk-bad").flatMap((p) => [`${p}@1`, `${p}@2`]));
    expect(await historyOf(token)).toEqual(paths("chunk-bad").filter((p) => p !== "chunk-bad/s3").map((p) => [p, "success", 1, 2]));
    const events = await rotationEvents(tv, "chunk-bad");
    expect(events.map((e) => [e.event_type, e.path]).sort()).toEqual(paths("chunk-bad").filter((p) => p !== "chunk-bad/s3").map((p) => ["rotation.completed", p]));

    // the bad claim keeps other workers away until its lease ends, then fails the same way
    expect((await tick()).claimed).toBe(0);
    clock.advance(10 * MINUTE);
    expect(await tick()).toMatchObject({ claimed: 1, errors: 1 });
  });

  it("completes an open pending item and keeps max_versions when a chunk rotates", async () => {
    const token = await longToken(tv, "chunk-keep");
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: false } });
    for (const path of paths("chunk-keep")) {
      await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { password: "initial" }, options: { rotation_policy_id: "rot_daily", max_versions: 2 } } });
    }
    clock.advance(DAY);
    expect(await tick()).toMatchObject({ announced: 6 });
    // the automation never answered; the policy now generates values itself, and the restarted schedule is due
    await tv.rest("PATCH", "/v1/rotation/policies/rot_daily", { token, body: { auto_generate: true } });
    expect(await tick()).toMatchObject({ rotated: 6, errors: 0 });
    expect(await historyOf(token)).toEqual(paths("chunk-keep").map((p) => [p, "success", 1, 2]));

    for (let day = 2; day <= 3; day++) {
      clock.advance(DAY);
      expect(await tick()).toMatchObject({ rotated: 6, errors: 0 });
    }
    for (const path of paths("chunk-keep")) {
      const listed = await tv.rest("GET", `/v1/secrets/${path}/versions`, { token });
      expect(listed.body.versions.map((v: any) => v.version), path).toEqual([4, 3]);
    }
  });

  it.skipIf(testDatabaseKind === "embedded")("commits the chunk without waiting for a row another transaction holds, then rotates that one on its own", async () => {
    await dailySecrets("chunk-busy");
    clock.advance(DAY);
    const scheduler = await replicaScheduler();
    const held = await tv.vault.db.selectFrom("secrets").select("id").where("tenant_id", "=", "chunk-busy").where("path", "=", "chunk-busy/s4").executeTakeFirstOrThrow();

    let locked!: () => void;
    let release!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const released = new Promise<void>((r) => (release = r));
    const holder = tv.vault.db.transaction().execute(async (tx) => {
      await tx.selectFrom("secrets").select("id").where("id", "=", held.id).forUpdate().execute();
      locked();
      await released;
    });
    await isLocked;

    const tick = scheduler.runSchedulerTick();
    // The five others are committed (and leave the read cache) while s4 is still locked.
    await scheduler.fiveRotated;
    expect(scheduler.invalidated).not.toContain("chunk-busy/s4");
    expect(await currentVersions("chunk-busy")).toEqual(rotatedBut("chunk-busy", "chunk-busy/s4"));

    release();
    await holder;
    expect(await tick).toMatchObject({ claimed: 6, rotated: 6, errors: 0, stale: 0 });
    expect((await currentVersions("chunk-busy"))["chunk-busy/s4"]).toBe(2);
  });

  /** Another replica's scheduler on the same PostgreSQL, which tells which paths it rotated (its read cache hears them). */
  async function replicaScheduler() {
    const database = connectPostgres(tv.databaseUrl!, { poolSize: 4 });
    pools.push(database);
    const envelope = createEnvelope(await loadMasterKey({ dataDir: tv.dataDir, logger: silentLogger }), database.db);
    const invalidated: string[] = [];
    let fiveDone!: () => void;
    const fiveRotated = new Promise<void>((r) => (fiveDone = r));
    const scheduler = createRotationScheduler({
      db: database.db,
      envelope,
      engine: createRotationEngine({ envelope }),
      providerRuns: createPolicyRuns({ waitsForSuppliedValue: () => false }),
      readCache: {
        invalidatePath: (_tenantId, path) => {
          invalidated.push(path);
          if (invalidated.length === 5) fiveDone();
        },
      },
      clock,
      logger: silentLogger,
      tickSeconds: 30,
      batchSize: 50,
    });
    return { runSchedulerTick: () => scheduler.runSchedulerTick(), invalidated, fiveRotated };
  }
});
