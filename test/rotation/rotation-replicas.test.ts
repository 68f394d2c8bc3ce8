import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import type { CallContext } from "../../src/auth/principal.js";
import { createManualClock } from "../../src/clock.js";
import { createEnvelope } from "../../src/crypto/envelope.js";
import { loadMasterKey } from "../../src/crypto/master-key.js";
import { connectPostgres, type DatabaseHandle } from "../../src/db/database.js";
import { createLogger, silentLogger } from "../../src/log.js";
import { createRotationEngine } from "../../src/rotation/rotation-engine.js";
import { createRotationScheduler, type RotationScheduler } from "../../src/rotation/rotation-scheduler.js";
import { createSecretReadCache } from "../../src/secrets/secret-read-cache.js";
import { testDatabaseKind } from "../support/database.js";
import type { TestVault } from "../support/vault.js";
import { HOUR, startRotationVault } from "./rotation-fixtures.js";

const SECRETS = 1000;
const TENANT = "replicas";

/** A call context for seeding through the secrets service directly (no HTTP), as an admin of the tenant. */
function seedCall(): CallContext {
  return {
    principal: { subject: "seeder", tenantId: TENANT, scopes: new Set(["admin"]), partnerAdmin: false },
    tenantId: TENANT,
    requestId: "seed",
    action: "PutSecret",
    audited: false,
  };
}

describe("exactly once across replicas", () => {
  const clock = createManualClock("2026-01-01T00:00:00Z");
  let tv: TestVault | undefined;
  const pools: DatabaseHandle[] = [];
  const logs: string[] = [];
  afterAll(async () => {
    for (const p of pools) await p.close();
    await tv?.close();
  });

  /** Another replica's scheduler: its own pool on the same database, the same master key (data dir). */
  async function replicaScheduler(databaseUrl: string, dataDir: string): Promise<RotationScheduler> {
    const database = connectPostgres(databaseUrl, 10);
    pools.push(database);
    const envelope = createEnvelope(await loadMasterKey({ dataDir, logger: silentLogger }), database.db);
    return createRotationScheduler({
      db: database.db,
      envelope,
      engine: createRotationEngine({ envelope }),
      readCache: createSecretReadCache(),
      clock,
      logger: createLogger({ level: "debug", write: (l) => logs.push(l) }),
      tickSeconds: 30,
      batchSize: 50,
    });
  }

  it.skipIf(testDatabaseKind === "embedded")(
    `three replicas on one PostgreSQL rotate ${SECRETS} secrets due at once exactly once each`,
    async () => {
      tv = await startRotationVault(clock, { SCAIVAULT_SCHEDULER_BATCH: "50" });
      const token = await tv.token({ tenantId: TENANT, ttlSeconds: 30 * 86400 });
      expect((await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } })).status).toBe(201);

      const call = seedCall();
      for (let i = 0; i < SECRETS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            tv!.vault.secrets.put(call, "tenant", `fleet/s${String(i + j).padStart(4, "0")}`, { data: { password: "initial" }, options: { rotationPolicyId: "rot_daily" } }),
          ),
        );
      }

      clock.advance(25 * HOUR);
      const now = clock.now();
      const schedulers = [tv.vault.scheduler, await replicaScheduler(tv.databaseUrl!, tv.dataDir), await replicaScheduler(tv.databaseUrl!, tv.dataDir)];
      // each replica's clock a little off from the others
      const jitterMs = [0, -1500, 2000];
      const began = performance.now();
      const summaries = await Promise.all(schedulers.map((s, i) => s.runSchedulerTick(new Date(now.getTime() + jitterMs[i]!))));
      const total = summaries.reduce((sum, s) => sum + s.rotated, 0);
      console.log(`rotations per replica: ${summaries.map((s) => s.rotated).join(", ")} in ${(performance.now() - began).toFixed(0)} ms`);
      expect(summaries.map((s) => s.errors)).toEqual([0, 0, 0]);
      expect(summaries.map((s) => s.failed)).toEqual([0, 0, 0]);
      expect(total).toBe(SECRETS);
      expect(summaries.filter((s) => s.rotated > 0).length).toBeGreaterThan(1);

      // nothing left, whichever replica looks
      const again = await Promise.all(schedulers.map((s) => s.runSchedulerTick(now)));
      expect(again.map((s) => s.claimed)).toEqual([0, 0, 0]);

      const db = tv.vault.db;
      const perSecret = await db
        .selectFrom("secrets as s")
        .leftJoin("secret_versions as v", "v.secret_id", "s.id")
        .select(["s.path", "s.current_version", sql<number>`count(v.version)::int`.as("versions")])
        .where("s.tenant_id", "=", TENANT)
        .groupBy(["s.path", "s.current_version"])
        .execute();
      expect(perSecret).toHaveLength(SECRETS);
      expect(perSecret.filter((r) => r.current_version !== 2 || r.versions !== 2)).toEqual([]);
      const history = await db
        .selectFrom("rotation_history")
        .select(["status", sql<number>`count(*)::int`.as("n"), sql<number>`count(distinct secret_id)::int`.as("secrets")])
        .where("tenant_id", "=", TENANT)
        .groupBy("status")
        .execute();
      expect(history).toEqual([{ status: "success", n: SECRETS, secrets: SECRETS }]);
      const events = await db
        .selectFrom("events")
        .select(sql<number>`count(*)::int`.as("n"))
        .where("tenant_id", "=", TENANT)
        .where("event_type", "=", "rotation.completed")
        .executeTakeFirstOrThrow();
      expect(events.n).toBe(SECRETS);
      expect([...tv.logs, ...logs].filter((l) => l.includes('"level":"error"') || l.includes("stale rotation claim"))).toEqual([]);
    },
    240_000,
  );
});
