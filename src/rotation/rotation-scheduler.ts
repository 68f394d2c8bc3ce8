import { Cron } from "croner";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db } from "../db/database.js";
import type { Logger } from "../log.js";
import type { SecretReadCache } from "../secrets/secret-read-cache.js";
import { SCHEDULER_ACTOR, type RotationEngine } from "./rotation-engine.js";
import * as store from "./rotation-store.js";
import type { RotationClaim } from "./rotation-store.js";
import { afterFailedAttempt, DUE_ANNOUNCED, warnThresholdsOf, warningDue } from "./schedule.js";

export interface RotationSchedulerDeps {
  db: Db;
  envelope: Envelope;
  engine: RotationEngine;
  /** This replica's read cache: a rotated secret leaves it at commit (other replicas hear the trigger's notice). */
  readCache: Pick<SecretReadCache, "invalidatePath">;
  clock: Clock;
  logger: Logger;
  /** Seconds between ticks of the timer. */
  tickSeconds: number;
  /** Assignments claimed per transaction. */
  batchSize: number;
  /** Claims processed side by side (each in its own transaction); default 4. */
  concurrency?: number;
  /** How long a claim keeps other workers away; a worker stalled past it is fenced off at commit. */
  claimLeaseSeconds?: number;
}

/** What became of one claimed assignment. */
export type ClaimOutcome = "rotated" | "failed" | "announced" | "warned" | "skipped" | "stale";

/** The counts of one tick. */
export type TickSummary = Record<ClaimOutcome | "claimed" | "errors", number>;

/**
 * The rotation scheduler. `runSchedulerTick(now)` is the whole job and what tests call with an
 * injected clock; `start` only puts it on a croner timer (`protect: true`, so ticks never overlap
 * within a replica). Replicas coordinate through the database: claims use `FOR UPDATE SKIP LOCKED`
 * and every commit is fenced by the assignment's cycle and the secret's version seen at claim time.
 */
export function createRotationScheduler(deps: RotationSchedulerDeps) {
  const { db, envelope, engine, clock, logger } = deps;
  const leaseMs = (deps.claimLeaseSeconds ?? 300) * 1000;
  /** Running totals since start, for operators (a refused stale commit is worth knowing about). */
  const totals: TickSummary = emptySummary();
  let job: Cron | undefined;
  let inFlight: Promise<unknown> | undefined;

  /** Claims one batch of assignments that need the scheduler at `now`. */
  async function claimDue(now: Date = clock.now()): Promise<RotationClaim[]> {
    return store.claimDue(db, now, new Date(now.getTime() + leaseMs), deps.batchSize);
  }

  /** Acts on one claim in one transaction: rotate, announce, warn, or refuse when the claim went stale. */
  async function processClaim(claim: RotationClaim, now: Date = clock.now()): Promise<ClaimOutcome> {
    await envelope.prepareTenant(claim.tenantId);
    const outcome = await inTransaction(db, async (tx): Promise<ClaimOutcome> => {
      // Same lock order as every write: the secret, then its assignment.
      const secret = await store.lockSecretById(tx, claim.secretId);
      const assignment = await store.findAssignment(tx, claim.secretId, true);
      const fresh =
        secret !== undefined &&
        secret.deleted_at === null &&
        assignment !== undefined &&
        assignment.policy_id === claim.policyId &&
        assignment.cycle === claim.cycle &&
        secret.current_version === claim.expectedVersion;
      if (!fresh) return "stale";
      const policy = await store.findPolicy(tx, claim.tenantId, claim.policyId);
      if (!policy?.is_active) return "skipped";
      const target = { policy, secret, actor: SCHEDULER_ACTOR, reason: "scheduled", now };

      if (assignment.next_rotation_at <= now) {
        if (policy.auto_generate) {
          if (assignment.retry_at && assignment.retry_at > now) return "skipped";
          const attempt = assignment.attempts + 1;
          const after = afterFailedAttempt(attempt, policy.interval_seconds, now);
          const item = await engine.rotateGenerated(tx, target, { attempt, willRetry: !after.giveUp, nextAttemptAt: after.nextAttemptAt });
          if (item.status === "success") return "rotated";
          await store.updateAssignment(
            tx,
            secret.id,
            after.giveUp
              ? { next_rotation_at: after.nextAttemptAt, cycle: assignment.cycle + 1, warned: [], attempts: 0, retry_at: null, claimed_until: null }
              : { attempts: attempt, retry_at: after.nextAttemptAt, claimed_until: null },
          );
          return "failed";
        }
        if (assignment.warned.includes(DUE_ANNOUNCED)) return "skipped";
        await engine.announceDue(tx, target, assignment.next_rotation_at);
        await store.updateAssignment(tx, secret.id, { warned: [...assignment.warned, DUE_ANNOUNCED], claimed_until: null });
        return "announced";
      }

      const warning = warningDue(warnThresholdsOf(policy.warn_before), assignment.next_rotation_at, assignment.warned, now);
      if (!warning) return "skipped";
      await engine.warn(tx, target, assignment.next_rotation_at, warning.label);
      await store.updateAssignment(tx, secret.id, { warned: [...assignment.warned, ...warning.markWarned], claimed_until: null });
      return "warned";
    });
    totals[outcome] += 1;
    if (outcome === "rotated") deps.readCache.invalidatePath(claim.tenantId, claim.path);
    if (outcome === "stale") {
      logger.warn("stale rotation claim refused: the assignment moved on since it was claimed", {
        tenantId: claim.tenantId,
        path: claim.path,
        policyId: claim.policyId,
        claimedCycle: claim.cycle,
        claimedVersion: claim.expectedVersion,
      });
    }
    return outcome;
  }

  /** One tick: claims and processes batches until no assignment needs the scheduler at `now`. */
  async function runSchedulerTick(now: Date = clock.now()): Promise<TickSummary> {
    const summary = emptySummary();
    for (;;) {
      const claims = await claimDue(now);
      summary.claimed += claims.length;
      // Claims are different secrets, each committed in its own transaction: they can run side by
      // side on the pool (the embedded driver serialises them by itself).
      let next = 0;
      const worker = async () => {
        while (next < claims.length) {
          const claim = claims[next++]!;
          try {
            summary[await processClaim(claim, now)] += 1;
          } catch (err) {
            // The claim stays until its lease ends, then another tick retries it.
            summary.errors += 1;
            logger.error("rotation failed unexpectedly", { tenantId: claim.tenantId, path: claim.path, policyId: claim.policyId, err });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 4, claims.length) }, worker));
      if (claims.length < deps.batchSize) break;
    }
    totals.claimed += summary.claimed;
    totals.errors += summary.errors;
    if (summary.claimed > 0) logger.info("rotation scheduler tick", { ...summary });
    return summary;
  }

  return {
    claimDue,
    processClaim,
    runSchedulerTick,
    /** Running totals since the scheduler was created. */
    totals: (): Readonly<TickSummary> => ({ ...totals }),
    /** Runs a tick every `tickSeconds`. */
    start() {
      if (job) return;
      // Unnamed: croner's job names are process-wide, and one process may host several vaults.
      job = new Cron("* * * * * *", { interval: deps.tickSeconds, protect: true }, async () => {
        inFlight = runSchedulerTick().catch((err) => logger.error("rotation scheduler tick failed", { err }));
        await inFlight;
      });
    },
    /** Stops the timer and waits for a running tick, so the database can close after it. */
    async stop() {
      job?.stop();
      job = undefined;
      await inFlight;
    },
  };
}

export type RotationScheduler = ReturnType<typeof createRotationScheduler>;

function emptySummary(): TickSummary {
  return { claimed: 0, rotated: 0, failed: 0, announced: 0, warned: 0, skipped: 0, stale: 0, errors: 0 };
}
