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
import { MINUTE, startRotationVault } from "./rotation-fixtures.js";

const SECRETS = 300;
const TENANT = "window-replicas";

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

describe("rotation windows across replicas", () => {
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
    `three replicas rotate each of ${SECRETS} secrets exactly once per window, at starts spread across the window`,
    async () => {
      tv = await startRotationVault(clock, { SCAIVAULT_SCHEDULER_BATCH: "50" });
      const token = await tv.token({ tenantId: TENANT, ttlSeconds: 30 * 86400 });
      const created = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "nightly", schedule: "0 3 * * *", rotation_window: "3h", auto_generate: true } });
      expect(created.status).toBe(201);
      const call = seedCall();
      for (let i = 0; i < SECRETS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            tv!.vault.secrets.put(call, "tenant", `fleet/s${String(i + j).padStart(4, "0")}`, { data: { password: "initial" }, options: { rotationPolicyId: "rot_nightly" } }),
          ),
        );
      }
      const schedulers = [tv.vault.scheduler, await replicaScheduler(tv.databaseUrl!, tv.dataDir), await replicaScheduler(tv.databaseUrl!, tv.dataDir)];
      // each replica's clock a little off from the others
      const jitterMs = [0, -1500, 2000];
      const perReplica = [0, 0, 0];
      // two nights, 02:50 to 06:10, a tick every 5 minutes on every replica at once
      for (const night of ["2026-01-01", "2026-01-02"]) {
        for (let t = Date.parse(`${night}T02:50:00Z`); t <= Date.parse(`${night}T06:10:00Z`); t += 5 * MINUTE) {
          clock.set(new Date(t));
          const summaries = await Promise.all(schedulers.map((s, i) => s.runSchedulerTick(new Date(t + jitterMs[i]!))));
          summaries.forEach((s, i) => (perReplica[i]! += s.rotated));
          expect(summaries.map((s) => s.errors + s.failed + s.missed)).toEqual([0, 0, 0]);
        }
      }
      console.log(`rotations per replica over two windows: ${perReplica.join(", ")}`);
      expect(perReplica.reduce((a, b) => a + b, 0)).toBe(2 * SECRETS);
      expect(perReplica.filter((n) => n > 0).length).toBeGreaterThan(1);

      const db = tv.vault.db;
      const items = await db
        .selectFrom("rotation_history")
        .select(["secret_id", "status", "rotated_at"])
        .where("tenant_id", "=", TENANT)
        .execute();
      expect(items.filter((i) => i.status !== "success")).toEqual([]);
      const windowOf = (d: Date) => (d.toISOString().startsWith("2026-01-01") ? 1 : 2);
      const perSecretAndWindow = new Map<string, number>();
      for (const i of items) perSecretAndWindow.set(`${i.secret_id}/${windowOf(i.rotated_at)}`, (perSecretAndWindow.get(`${i.secret_id}/${windowOf(i.rotated_at)}`) ?? 0) + 1);
      expect(perSecretAndWindow.size).toBe(2 * SECRETS);
      expect([...perSecretAndWindow.values()].every((n) => n === 1)).toBe(true);
      const versions = await db.selectFrom("secrets").select("current_version").where("tenant_id", "=", TENANT).execute();
      expect(versions.filter((v) => v.current_version !== 3)).toEqual([]);

      // every rotation inside its window (03:00 to 06:00), and spread across it rather than at its opening
      const offsets = items.map((i) => (i.rotated_at.getTime() % 86_400_000) - 3 * 3_600_000);
      expect(offsets.filter((o) => o < 0 || o >= 3 * 3_600_000)).toEqual([]);
      const halfHours = Array.from({ length: 6 }, (_, k) => offsets.filter((o) => o >= k * 1_800_000 && o < (k + 1) * 1_800_000).length);
      console.log(`rotations per half hour of the window: ${halfHours.join(", ")}`);
      expect(halfHours.slice(0, 5).every((n) => n > 0.08 * items.length)).toBe(true);
      expect(offsets.filter((o) => o < 5 * 60_000).length).toBeLessThan(0.1 * items.length);
      expect([...tv.logs, ...logs].filter((l) => l.includes('"level":"error"') || l.includes("stale rotation claim"))).toEqual([]);
    },
    600_000,
  );
});
