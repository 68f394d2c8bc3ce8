import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { testDatabaseKind } from "../support/database.js";
import type { TestVault } from "../support/vault.js";
import { MINUTE, startRotationVault } from "./rotation-fixtures.js";
import { schedulerReplicas, seedCall } from "./scheduler-replicas.js";

const SECRETS = 300;
const TENANT = "window-replicas";

describe("rotation windows across replicas", () => {
  const clock = createManualClock("2026-01-01T00:00:00Z");
  let tv: TestVault | undefined;
  const replicas = schedulerReplicas(clock);
  afterAll(async () => {
    await replicas.close();
    await tv?.close();
  });

  it.skipIf(testDatabaseKind === "embedded")(
    `three replicas rotate each of ${SECRETS} secrets exactly once per window, at starts spread across the window`,
    async () => {
      tv = await startRotationVault(clock, { SCAIVAULT_SCHEDULER_BATCH: "50" });
      const token = await tv.token({ tenantId: TENANT, ttlSeconds: 30 * 86400 });
      const created = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "nightly", schedule: "0 3 * * *", rotation_window: "3h", auto_generate: true } });
      expect(created.status).toBe(201);
      const call = seedCall(TENANT);
      for (let i = 0; i < SECRETS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            tv!.vault.secrets.put(call, "tenant", `fleet/s${String(i + j).padStart(4, "0")}`, { data: { password: "initial" }, options: { rotationPolicyId: "rot_nightly" } }),
          ),
        );
      }
      const schedulers = [tv.vault.scheduler, await replicas.start(tv.databaseUrl!, tv.dataDir), await replicas.start(tv.databaseUrl!, tv.dataDir)];
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
      expect([...tv.logs, ...replicas.logs].filter((l) => l.includes('"level":"error"') || l.includes("stale rotation claim"))).toEqual([]);
    },
    600_000,
  );
});
