// A second (third, …) replica working provider rotation runs over the same database as a test
// vault. On PostgreSQL it is a whole second ScaiVault on its own connection pool; the embedded
// database allows one process-local connection, so there it is a second runner built by the same
// factories over that database: its own claims, fences and provider calls.
import { createManualClock, type ManualClock } from "../../src/clock.js";
import { createEnvelope } from "../../src/crypto/envelope.js";
import { silentLogger } from "../../src/log.js";
import { createGuardedHttp } from "../../src/outbound/guarded-http.js";
import type { RotationProvider } from "../../src/provider-rotation/providers/provider.js";
import { createProviderRegistry } from "../../src/provider-rotation/providers/registry.js";
import { createWebhookProvider } from "../../src/provider-rotation/providers/webhook.js";
import { createRotationRunner, type RotationRunner } from "../../src/provider-rotation/rotation-runner.js";
import { createAllowList } from "../../src/outbound/ssrf-guard.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";

// A generous provider timeout: on a loaded machine an answer from loopback can take seconds, and a timed-out call is a retry, not what these tests are about.
export const REPLICA_ENV = { SCAIVAULT_SCHEDULER_ENABLED: "false", SCAIVAULT_WEBHOOK_POLL: "1h", SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SCAIVAULT_WEBHOOK_TIMEOUT: "2m" };

export interface Replica {
  runner: RotationRunner;
  /** The replica's scheduler tick, when it is a whole vault (PostgreSQL). */
  schedulerTick?: (now: Date) => Promise<unknown>;
  stop(): Promise<void>;
}

/** Starts another replica of `tv` whose providers are `extra` plus the built-in webhook provider. */
export async function startReplica(tv: TestVault, clock: ManualClock, extra: () => RotationProvider[] = () => []): Promise<Replica> {
  if (testDatabaseKind === "postgres") {
    const other = await startTestVault({ clock, env: REPLICA_ENV, reuse: { dataDir: tv.dataDir, databaseUrl: tv.databaseUrl }, extraProviders: extra });
    return { runner: other.vault.rotationRunner, schedulerTick: (now) => other.vault.scheduler.runSchedulerTick(now), stop: () => other.stop() };
  }
  const allow = createAllowList(["127.0.0.1"]);
  const runner = createRotationRunner({
    db: tv.vault.db,
    envelope: createEnvelope(tv.vault.masterKey, tv.vault.db),
    registry: createProviderRegistry([createWebhookProvider({ allow, timeoutMs: 120_000 }), ...extra()]),
    http: createGuardedHttp({ allow, timeoutMs: 120_000 }),
    readCache: tv.vault.readCache,
    clock,
    logger: silentLogger,
  });
  return { runner, schedulerTick: (now) => tv.vault.scheduler.runSchedulerTick(now), stop: () => runner.stop() };
}

export { createManualClock };
