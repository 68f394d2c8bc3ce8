// The delivery worker of one kind of target (webhooks, notification channels), safe to run on
// several replicas at once: it claims due deliveries, sends each outside any transaction with a
// timeout of its own (a dead target only delays its own deliveries), and records every attempt
// in a new transaction fenced by the attempt number, retrying on the shared schedule. What a
// target is and how an event is sent to it is the caller's; every scheduling decision reads the
// injected clock.
import type { Clock } from "../clock.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import type { Logger } from "../log.js";
import { claimDueDeliveries, findEvents, recordAttempt, type AttemptResult, type ClaimedDelivery, type DeliveryQueue, type OutboxEventRow } from "./delivery-queue.js";
import { nextAttemptAt, parseRetryAfter } from "./retry-schedule.js";
import type { SendResult } from "./webhook-sender.js";

export interface DeliveryWorkerOptions<Target> {
  db: Db;
  clock: Clock;
  logger: Logger;
  queue: DeliveryQueue;
  /** How logs name the kind of target: `webhook`, `notification`. */
  label: string;
  /** The target of a claim; undefined when it was deleted since (its deliveries went with it). */
  findTarget(db: Db, tenantId: string, id: string): Promise<Target | undefined>;
  /** Sends one event to the target: one attempt. */
  send(target: Target, event: OutboxEventRow, attemptedAt: Date): Promise<SendResult>;
  /** Whether an attempt delivered the event; by default an answer of 2xx without an error. */
  isDelivered?(sent: SendResult, target: Target): boolean;
  /** An answer after which the target is turned off instead of retried (webhooks: 410 Gone). */
  gone?: GoneRule;
  /** Jitter source for retry delays, in [0, 1). */
  random?: () => number;
  /** How long a claim lasts; must outlast one send (the timeout) with room to record it. */
  claimSeconds?: number;
  /** Deliveries claimed and sent concurrently per round. */
  batchSize?: number;
}

/** The answer that means "this endpoint is gone": recorded as failed, and the target disabled in the same transaction. */
export interface GoneRule {
  statusCode: number;
  /** The attempt's error when the answer carried none. */
  error: string;
  /** The warning logged. */
  log: string;
  disable(tx: Tx, claim: ClaimedDelivery, now: Date): Promise<void>;
}

/** The counts of one delivery round. */
export interface DeliveryRound {
  /** Deliveries this round claimed. */
  claimed: number;
  /** Attempts sent and recorded: delivered + retrying + failed. */
  attempted: number;
  delivered: number;
  retrying: number;
  failed: number;
  /** Attempts whose claim had been taken over by another worker: sent, not recorded. */
  stale: number;
}

type Outcome = "delivered" | "retrying" | "failed" | "stale";

const answered2xx = (sent: SendResult) => !sent.error && sent.statusCode !== undefined && sent.statusCode >= 200 && sent.statusCode < 300;

/** Creates the worker; `runDeliveryOnce` is one round, `runUntilDrained` the bounded rounds of one tick. */
export function createDeliveryWorker<Target>(options: DeliveryWorkerOptions<Target>) {
  const { db, clock, logger, queue, label } = options;
  const claimMs = (options.claimSeconds ?? 120) * 1000;
  const batchSize = options.batchSize ?? 16;
  const isDelivered = options.isDelivered ?? answered2xx;

  /** Claims one batch of due deliveries, sends them, records every attempt. */
  async function runDeliveryOnce(): Promise<DeliveryRound> {
    const now = clock.now();
    const claims = await claimDueDeliveries(db, queue, now, new Date(now.getTime() + claimMs), batchSize);
    const round: DeliveryRound = { claimed: claims.length, attempted: 0, delivered: 0, retrying: 0, failed: 0, stale: 0 };
    if (claims.length === 0) return round;
    const events = new Map((await findEvents(db, [...new Set(claims.map((c) => c.event_id))])).map((e) => [e.id, e]));
    await Promise.all(
      claims.map(async (claim) => {
        let outcome: Outcome | undefined;
        try {
          outcome = await attempt(claim, events.get(claim.event_id));
        } catch (err) {
          // Left claimed: the claim expires and another round tries again (at least once).
          logger.error(`${label} attempt failed unexpectedly`, { [queue.targetColumn]: claim.target_id, event_id: claim.event_id, err });
        }
        if (outcome === undefined) return;
        if (outcome !== "stale") round.attempted++;
        round[outcome]++;
      }),
    );
    return round;
  }

  async function attempt(claim: ClaimedDelivery, event: OutboxEventRow | undefined): Promise<Outcome | undefined> {
    const target = await options.findTarget(db, claim.tenant_id, claim.target_id);
    if (!target) return undefined;
    const attemptedAt = clock.now();
    const sent: SendResult = event ? await options.send(target, event, attemptedAt) : { error: "the event is no longer in the outbox", latencyMs: 0 };
    const finishedAt = clock.now();
    const gone = options.gone && sent.statusCode === options.gone.statusCode ? options.gone : undefined;
    const result = resultOf(claim, sent, { delivered: event !== undefined && isDelivered(sent, target), retryable: event !== undefined && !gone, gone }, attemptedAt, finishedAt);
    const recorded = await inTransaction(db, async (tx) => {
      if (!(await recordAttempt(tx, queue, claim, event?.event_type ?? "unknown", result))) return false;
      await gone?.disable(tx, claim, finishedAt);
      return true;
    });
    const fields = { tenant_id: claim.tenant_id, [queue.targetColumn]: claim.target_id, event_id: claim.event_id, attempt: claim.attempts, status_code: sent.statusCode, error: result.error };
    if (!recorded) {
      logger.warn(`${label} attempt not recorded: its claim was taken over`, fields);
      return "stale";
    }
    if (result.state === "failed") logger.warn(gone ? gone.log : `${label} delivery failed`, fields);
    else if (result.state === "retrying") logger.debug(`${label} attempt failed; will retry`, { ...fields, next_retry_at: result.nextRetryAt });
    return result.state;
  }

  /** What an attempt records: delivered, or retried on the schedule (unless the target is gone or the event is), or failed. */
  function resultOf(claim: ClaimedDelivery, sent: SendResult, how: { delivered: boolean; retryable: boolean; gone?: GoneRule }, attemptedAt: Date, finishedAt: Date): AttemptResult {
    const status = sent.statusCode;
    if (how.delivered) return { state: "delivered", attemptedAt, statusCode: status, latencyMs: sent.latencyMs };
    const next = !how.retryable ? undefined : nextAttemptAt(claim.attempts, finishedAt, { random: options.random, retryAfterSeconds: parseRetryAfter(sent.retryAfter, finishedAt) });
    return {
      state: next ? "retrying" : "failed",
      attemptedAt,
      statusCode: status,
      latencyMs: sent.latencyMs,
      error: sent.error ?? (how.gone ? how.gone.error : `HTTP ${status}`),
      nextRetryAt: next,
    };
  }

  /** Delivers until nothing more is due (at most ten rounds, so one tick stays short). */
  async function runUntilDrained(): Promise<void> {
    for (let i = 0; i < 10 && (await runDeliveryOnce()).claimed === batchSize; i++);
  }

  return { runDeliveryOnce, runUntilDrained };
}

/** Runs `round` every `pollMs`; rounds never overlap (the next is scheduled when one ends). */
export function createPoller(round: () => Promise<void>) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  function start(pollMs: number): void {
    stopped = false;
    const schedule = () => {
      timer = setTimeout(async () => {
        running = round();
        await running;
        running = undefined;
        if (!stopped) schedule();
      }, pollMs);
      timer.unref();
    };
    schedule();
  }

  /** Stops the timer and waits for a running round, so every sent attempt is recorded. */
  async function stop(): Promise<void> {
    stopped = true;
    clearTimeout(timer);
    await running;
  }

  return { start, stop };
}
