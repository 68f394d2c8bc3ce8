// Extra scheduler replicas for the multi-replica rotation tests: each has its own pool on the
// test server's PostgreSQL and the same master key (the server's data dir), and logs into one list.
import type { CallContext } from "../../src/auth/principal.js";
import type { Clock } from "../../src/clock.js";
import { createEnvelope } from "../../src/crypto/envelope.js";
import { loadMasterKey } from "../../src/crypto/master-key.js";
import { connectPostgres, type DatabaseHandle } from "../../src/db/database.js";
import { createLogger, silentLogger } from "../../src/log.js";
import { createRotationEngine } from "../../src/rotation-policies/rotation-engine.js";
import { createPolicyRuns } from "../../src/provider-rotation/policy-runs.js";
import { createRotationScheduler, type RotationScheduler } from "../../src/rotation-policies/rotation-scheduler.js";
import { createSecretReadCache } from "../../src/secrets/secret-read-cache.js";

/** A call context for seeding through the secrets service directly (no HTTP), as an admin of `tenantId`. */
export function seedCall(tenantId: string): CallContext {
  return {
    principal: { subject: "seeder", tenantId, scopes: new Set(["admin"]), partnerAdmin: false },
    tenantId,
    requestId: "seed",
    action: "PutSecret",
  };
}

/** Starts scheduler replicas on `clock`; `close()` ends their pools, `logs` holds what they logged. */
export function schedulerReplicas(clock: Clock) {
  const pools: DatabaseHandle[] = [];
  const logs: string[] = [];
  return {
    logs,
    /** Another replica's scheduler over `databaseUrl`, with the master key of `dataDir`. */
    async start(databaseUrl: string, dataDir: string): Promise<RotationScheduler> {
      const database = connectPostgres(databaseUrl);
      pools.push(database);
      const envelope = createEnvelope(await loadMasterKey({ dataDir, logger: silentLogger }), database.db);
      return createRotationScheduler({
        db: database.db,
        envelope,
        engine: createRotationEngine({ envelope }),
        providerRuns: createPolicyRuns({ waitsForSuppliedValue: () => false }),
        readCache: createSecretReadCache(),
        clock,
        logger: createLogger({ level: "debug", write: (l) => logs.push(l) }),
        tickSeconds: 30,
        batchSize: 50,
      });
    },
    async close() {
      for (const p of pools) await p.close();
    },
  };
}
