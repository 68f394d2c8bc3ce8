/**
 * One scheduler replica in its own process, for the bench: its own pool on the shared
 * PostgreSQL, ticking until nothing is due; prints {rotated, ms}. Env: DATABASE_URL, SCAIVAULT_MASTER_KEY;
 * BENCH_SCHEDULER_BATCH (claims per claim statement) and BENCH_SCHEDULER_CHUNK (claims per transaction) to compare settings.
 */
import { systemClock } from "../src/clock.js";
import { createEnvelope } from "../src/crypto/envelope.js";
import { masterKeyFromBytes } from "../src/crypto/master-key.js";
import { connectPostgres } from "../src/db/database.js";
import { silentLogger } from "../src/log.js";
import { createRotationEngine } from "../src/rotation-policies/rotation-engine.js";
import { createPolicyRuns } from "../src/provider-rotation/policy-runs.js";
import { createRotationScheduler } from "../src/rotation-policies/rotation-scheduler.js";

const { db, close } = connectPostgres(process.env.DATABASE_URL!, { poolSize: 4 });
const envelope = createEnvelope(masterKeyFromBytes(Buffer.from(process.env.SCAIVAULT_MASTER_KEY!, "base64")), db);
const scheduler = createRotationScheduler({
  db,
  envelope,
  engine: createRotationEngine({ envelope }),
  providerRuns: createPolicyRuns({ waitsForSuppliedValue: () => false }),
  readCache: { invalidatePath() {} },
  clock: systemClock,
  logger: silentLogger,
  tickSeconds: 1,
  batchSize: Number(process.env.BENCH_SCHEDULER_BATCH ?? 200),
  chunkSize: process.env.BENCH_SCHEDULER_CHUNK ? Number(process.env.BENCH_SCHEDULER_CHUNK) : undefined,
});
const started = performance.now();
let rotated = 0;
let errors = 0;
for (;;) {
  const tick = await scheduler.runSchedulerTick();
  rotated += tick.rotated;
  errors += tick.errors + tick.failed + tick.stale;
  if (tick.claimed === 0) break;
}
process.stdout.write(JSON.stringify({ rotated, errors, ms: performance.now() - started }) + "\n");
await close();
