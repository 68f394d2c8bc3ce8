import { Cron } from "croner";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import type { Logger } from "../log.js";
import type { SecretReadCache } from "../secrets/secret-read-cache.js";
import { SCHEDULER_ACTOR, type GeneratedRotation, type RetryNotice, type RotationEngine } from "./rotation-engine.js";
import * as store from "./policy-store.js";
import type { AssignmentRow, PolicyRow, RotationClaim } from "./policy-store.js";
import { nextRotationPlan, timingOf, windowMissed } from "../rotation-planning/rotation-window.js";
import { afterFailedAttempt, DUE_ANNOUNCED, warnThresholdsOf, warningDue, type AfterFailure } from "../rotation-planning/schedule.js";
import type { BoundSecret, ProviderRuns } from "./provider-runs.js";

export interface RotationSchedulerDeps {
  db: Db;
  envelope: Envelope;
  engine: RotationEngine;
  /** This replica's read cache: a rotated secret leaves it at commit (other replicas hear the trigger's notice). */
  readCache: Pick<SecretReadCache, "invalidatePath">;
  clock: Clock;
  logger: Logger;
  /** Told each tick's outcome counts (the metrics count rotation runs from it). */
  onTick?: (summary: Readonly<TickSummary>) => void;
  /** Seconds between ticks of the timer. */
  tickSeconds: number;
  /** Assignments claimed per transaction. */
  batchSize: number;
  /** Chunks processed side by side (each in its own transaction); default 4. */
  concurrency?: number;
  /** Claims processed in one transaction; default 32. */
  chunkSize?: number;
  /** How long a claim keeps other workers away; a worker stalled past it is fenced off at commit. */
  claimLeaseSeconds?: number;
  /**
   * Provider rotation, for due secrets bound to a provider and bindings with their own schedule. A
   * bound secret whose new credential can only come from its operator (stripe's supplied mode) has
   * its due rotation announced with `rotation.due`, as for a policy without auto-generation.
   */
  providerRuns: ProviderRuns;
}

/** What became of one claimed assignment. */
export type ClaimOutcome = "rotated" | "failed" | "announced" | "warned" | "skipped" | "missed" | "stale" | "started";

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
  const chunkSize = deps.chunkSize ?? 32;
  /** Running totals since start, for operators (a refused stale commit is worth knowing about). */
  const totals: TickSummary = emptySummary();
  let job: Cron | undefined;
  let inFlight: Promise<unknown> | undefined;

  /** Claims one batch of assignments that need the scheduler at `now`. */
  async function claimDue(now: Date = clock.now()): Promise<RotationClaim[]> {
    return store.claimDue(db, now, new Date(now.getTime() + leaseMs), deps.batchSize);
  }

  /** Acts on one claim in its own transaction: rotate, announce, warn, or refuse when the claim went stale. */
  async function processClaim(claim: RotationClaim, now: Date = clock.now()): Promise<ClaimOutcome> {
    await envelope.prepareTenant(claim.tenantId);
    const [outcome] = await inTransaction(db, async (tx) => {
      // Unlike a chunk, it waits for its rows: it holds no other lock meanwhile.
      const rows = await store.lockForRotation(tx, [claim.secretId], false);
      return actOnClaims(tx, [claim], rows, now);
    });
    settle(claim, outcome!);
    return outcome!;
  }

  /** One claim in its own transaction; an unexpected failure is logged and the claim waits for its lease to end. */
  async function processAlone(claim: RotationClaim, now: Date): Promise<ClaimOutcome | "errors"> {
    try {
      return await processClaim(claim, now);
    } catch (err) {
      logger.error("rotation failed unexpectedly", { tenantId: claim.tenantId, path: claim.path, policyId: claim.policyId, err });
      return "errors";
    }
  }

  /**
   * The claims of one chunk in one transaction, each fenced as in `processClaim`: a few statements
   * and one commit for the chunk instead of a dozen statements and a commit per claim. When that
   * transaction fails unexpectedly, none of it stays and each claim is redone in its own
   * transaction, so a bad claim fails alone, exactly as it would have without chunks. A claim whose
   * rows another transaction holds is redone on its own too, after the chunk commits: a chunk never
   * waits for a lock while holding others, so it cannot deadlock with a writer that locks several
   * secrets in another order ("rotate now").
   */
  async function processChunk(claims: RotationClaim[], now: Date): Promise<(ClaimOutcome | "errors")[]> {
    if (claims.length === 1) return [await processAlone(claims[0]!, now)];
    const chunk = await commitChunk(claims, now).catch((err): ChunkResult => {
      logger.warn("a chunk of rotation claims failed; each claim is redone in its own transaction", { claims: claims.length, err });
      return { done: [], outcomes: [] };
    });
    chunk.done.forEach((claim, i) => settle(claim, chunk.outcomes[i]!));
    const redone: (ClaimOutcome | "errors")[] = [];
    for (const claim of claims) if (!chunk.done.includes(claim)) redone.push(await processAlone(claim, now));
    return [...chunk.outcomes, ...redone];
  }

  /** The transaction of a chunk: the claims whose rows it could lock at once, and what became of them. */
  async function commitChunk(claims: RotationClaim[], now: Date): Promise<ChunkResult> {
    for (const tenantId of new Set(claims.map((c) => c.tenantId))) await envelope.prepareTenant(tenantId);
    return inTransaction(db, async (tx) => {
      const rows = await store.lockForRotation(tx, claims.map((c) => c.secretId), true);
      const done = claims.filter((c) => rows.secrets.has(c.secretId) && rows.assignments.has(c.secretId));
      return { done, outcomes: await actOnClaims(tx, done, rows, now) };
    });
  }

  /**
   * The work of claims whose rows the caller's transaction holds, each fenced on its own; their
   * generated rotations are written together at the end.
   */
  async function actOnClaims(tx: Tx, claims: RotationClaim[], rows: store.RotationRows, now: Date): Promise<ClaimOutcome[]> {
    const policies = policyReader(tx);
    const bindings = await deps.providerRuns.boundOf(tx, claims.map((c) => c.secretId));
    const outcomes: ClaimOutcome[] = [];
    const generations: { index: number; due: DueGeneration }[] = [];
    for (const claim of claims) {
      const step = await actOnClaim(tx, claim, rows, now, policies, bindings.get(claim.secretId));
      if (typeof step === "string") {
        outcomes.push(step);
      } else {
        generations.push({ index: outcomes.length, due: step });
        outcomes.push("rotated"); // unless the batch below records a failed generation
      }
    }
    const items = await engine.rotateGeneratedAll(tx, generations.map((g) => g.due));
    for (const [k, { index, due }] of generations.entries()) {
      if (items[k]!.status !== "success") outcomes[index] = await afterFailedGeneration(tx, due);
    }
    return outcomes;
  }

  /** One claim: refused when stale, else what it needs now; a generated rotation is returned to be written with the others. */
  async function actOnClaim(tx: Tx, claim: RotationClaim, rows: store.RotationRows, now: Date, policies: PolicyReader, binding: BoundSecret | undefined): Promise<ClaimOutcome | DueGeneration> {
    const secret = rows.secrets.get(claim.secretId);
    const assignment = rows.assignments.get(claim.secretId);
    const fresh =
      secret !== undefined &&
      secret.deleted_at === null &&
      assignment !== undefined &&
      assignment.policy_id === claim.policyId &&
      assignment.cycle === claim.cycle &&
      secret.current_version === claim.expectedVersion;
    if (!fresh) return "stale";
    const policy = await policies(claim.tenantId, claim.policyId);
    if (!policy?.is_active) return "skipped";
    const target = { policy, secret, actor: SCHEDULER_ACTOR, reason: "scheduled", now };
    const timing = timingOf(policy);
    // Interval policies have no window (null columns): their due time stands in for the opening.
    const window = { opensAt: assignment.window_opens_at ?? assignment.next_rotation_at, closesAt: assignment.window_closes_at };
    const scheduledWindow = policy.schedule !== null ? window : undefined;
    const announced = assignment.warned.includes(DUE_ANNOUNCED);

    if (windowMissed(window, now)) {
      const next = nextRotationPlan(timing, assignment.last_rotated_at ?? assignment.assigned_at, now, store.spreadKeyOf(secret.id));
      await engine.missWindow(tx, target, window, next, announced);
      await store.updateAssignment(tx, secret.id, { ...store.planColumns(timing, next), ...newCycle(assignment) });
      return "missed";
    }

    if (assignment.next_rotation_at <= now) {
      if (binding && !binding.waitsForSuppliedValue) return startProviderRun(tx, target, assignment);
      if (policy.auto_generate && !binding) {
        if (assignment.retry_at && assignment.retry_at > now) return "skipped";
        const attempt = assignment.attempts + 1;
        const after = afterFailedAttempt(attempt, timing, window, now, store.spreadKeyOf(secret.id));
        const nextAttemptAt = after.giveUp ? after.nextCycle.startAt : after.retryAt;
        return { target, assignment, after, retry: { attempt, willRetry: !after.giveUp, nextAttemptAt } };
      }
      if (announced) return "skipped";
      await engine.announceDue(tx, target, assignment.next_rotation_at, scheduledWindow);
      await store.updateAssignment(tx, secret.id, { warned: [...assignment.warned, DUE_ANNOUNCED], claimed_until: null });
      return "announced";
    }

    // Warnings count back from the window's opening, and stop once it has opened.
    if (window.opensAt <= now) return "skipped";
    const warning = warningDue(warnThresholdsOf(policy.warn_before), window.opensAt, assignment.warned, now);
    if (!warning) return "skipped";
    await engine.warn(tx, target, assignment.next_rotation_at, warning.label, scheduledWindow);
    await store.updateAssignment(tx, secret.id, { warned: [...assignment.warned, ...warning.markWarned], claimed_until: null });
    return "warned";
  }

  /**
   * A due secret bound to a provider: its run starts (the runner works it) and the next cycle
   * begins, so the claim is not made again. While the binding is paused the rotation is skipped,
   * not queued, as for a disabled policy.
   */
  async function startProviderRun(tx: Tx, t: GeneratedRotation["target"], assignment: AssignmentRow): Promise<ClaimOutcome> {
    // The next cycle is planned as for a generated rotation: an interval from now, or the next window.
    const timing = timingOf(t.policy);
    const next = nextRotationPlan(timing, t.now, t.now, store.spreadKeyOf(t.secret.id));
    const nextCycle = { ...store.planColumns(timing, next), ...newCycle(assignment) };
    // Paused, or the previous rotation's old credential still in its grace period: skipped, not queued.
    const outcome = await deps.providerRuns.startScheduledRun(tx, t.secret, t.now);
    await store.updateAssignment(tx, assignment.secret_id, nextCycle);
    return outcome;
  }

  /** After a failed generated attempt: retry after a delay, or after the last attempt wait for the next cycle. */
  async function afterFailedGeneration(tx: Tx, { target, assignment, after, retry }: DueGeneration): Promise<ClaimOutcome> {
    await store.updateAssignment(
      tx,
      assignment.secret_id,
      after.giveUp
        ? { ...store.planColumns(timingOf(target.policy), after.nextCycle), ...newCycle(assignment) }
        : { attempts: retry.attempt, retry_at: after.retryAt, claimed_until: null },
    );
    return "failed";
  }

  /** What follows a committed outcome: the totals, this replica's read cache, the log of a refused stale claim. */
  function settle(claim: RotationClaim, outcome: ClaimOutcome) {
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
  }

  /** The runs of bindings with their own schedule (provider rotation owns them), counted into the tick's summary. */
  async function startBindingRuns(summary: TickSummary, now: Date) {
    try {
      const bound = await deps.providerRuns.startDueBindingRuns(db, now, deps.batchSize);
      for (const outcome of ["started", "skipped", "missed"] as const) {
        summary[outcome] += bound[outcome];
        totals[outcome] += bound[outcome];
      }
    } catch (err) {
      summary.errors += 1;
      logger.error("starting the runs of bindings with their own schedule failed", { err });
    }
  }

  /** One tick: claims and processes batches until no assignment needs the scheduler at `now`. */
  async function runSchedulerTick(now: Date = clock.now()): Promise<TickSummary> {
    const summary = emptySummary();
    for (;;) {
      const claims = await claimDue(now);
      summary.claimed += claims.length;
      // Chunks hold different secrets, each chunk committed in its own transaction: they can run
      // side by side on the pool (the embedded driver serialises them by itself).
      const chunks = chunksOf(claims, chunkSize);
      let next = 0;
      const worker = async () => {
        while (next < chunks.length) {
          for (const outcome of await processChunk(chunks[next++]!, now)) summary[outcome] += 1;
        }
      };
      await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 4, chunks.length) }, worker));
      if (claims.length < deps.batchSize) break;
    }
    await startBindingRuns(summary, now);
    totals.claimed += summary.claimed;
    totals.errors += summary.errors;
    if (summary.claimed > 0 || summary.started > 0) logger.info("rotation scheduler tick", { ...summary });
    deps.onTick?.(summary);
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
  return { claimed: 0, rotated: 0, failed: 0, announced: 0, warned: 0, skipped: 0, missed: 0, stale: 0, started: 0, errors: 0 };
}

/** The columns that start an assignment's next cycle: warnings, retries and the claim reset; the fencing cycle moves on. */
function newCycle(assignment: AssignmentRow) {
  return { cycle: assignment.cycle + 1, warned: [], attempts: 0, retry_at: null, claimed_until: null };
}

/** The claims a chunk's transaction committed, and their outcomes in the same order. */
interface ChunkResult {
  done: RotationClaim[];
  outcomes: ClaimOutcome[];
}

/** A due generated rotation of a claim, written with the chunk's others; `after` and `retry` say what follows if it fails. */
interface DueGeneration extends GeneratedRotation {
  assignment: AssignmentRow;
  after: AfterFailure;
  retry: RetryNotice;
}

/** Reads a policy, once per transaction: the claims of a chunk mostly share one. */
type PolicyReader = (tenantId: string, policyId: string) => Promise<PolicyRow | undefined>;

function policyReader(tx: Tx): PolicyReader {
  const read = new Map<string, Promise<PolicyRow | undefined>>();
  return (tenantId, policyId) => {
    const key = `${tenantId}\0${policyId}`;
    let policy = read.get(key);
    if (!policy) read.set(key, (policy = store.findPolicy(tx, tenantId, policyId)));
    return policy;
  };
}

function chunksOf<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
