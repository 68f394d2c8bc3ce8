import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { testDatabaseKind } from "../support/database.js";
import type { TestVault } from "../support/vault.js";
import { HOUR, startRotationVault } from "./rotation-fixtures.js";
import { schedulerReplicas, seedCall } from "./scheduler-replicas.js";

const SECRETS = 1000;
const TENANT = "replicas";

describe("exactly once across replicas", () => {
  const clock = createManualClock("2026-01-01T00:00:00Z");
  let tv: TestVault | undefined;
  const replicas = schedulerReplicas(clock);
  afterAll(async () => {
    await replicas.close();
    await tv?.close();
  });

  it.skipIf(testDatabaseKind === "embedded")(
    `three replicas on one PostgreSQL rotate ${SECRETS} secrets due at once exactly once each`,
    async () => {
      tv = await startRotationVault(clock, { SCAIVAULT_SCHEDULER_BATCH: "50" });
      const token = await tv.token({ tenantId: TENANT, ttlSeconds: 30 * 86400 });
      expect((await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } })).status).toBe(201);

      const call = seedCall(TENANT);
      for (let i = 0; i < SECRETS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            tv!.vault.secrets.put(call, "tenant", `fleet/s${String(i + j).padStart(4, "0")}`, { data: { password: "initial" }, options: { rotationPolicyId: "rot_daily" } }),
          ),
        );
      }

      clock.advance(25 * HOUR);
      const now = clock.now();
      const schedulers = [tv.vault.scheduler, await replicas.start(tv.databaseUrl!, tv.dataDir), await replicas.start(tv.databaseUrl!, tv.dataDir)];
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
      expect([...tv.logs, ...replicas.logs].filter((l) => l.includes('"level":"error"') || l.includes("stale rotation claim"))).toEqual([]);
    },
    240_000,
  );
});
