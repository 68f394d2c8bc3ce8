import { Cron } from "croner";
import type { Clock } from "../clock.js";
import { inTransaction, type Db } from "../db/database.js";
import { appendEvents, type OutboxEvent } from "../events/outbox-store.js";
import type { Logger } from "../log.js";
import * as store from "./expiry-warning-store.js";
import type { RecordedWarning } from "./expiry-warning-store.js";

/** One threshold: the text the events show (`7d`) and its seconds. */
export interface ExpiryThreshold {
  label: string;
  seconds: number;
}

export interface ExpiryWarningDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** How long before `expires_at` a secret is announced (SCAIVAULT_EXPIRY_WARNINGS); none: the job does nothing. */
  thresholds: readonly ExpiryThreshold[];
  /** Seconds between runs of the timer. */
  tickSeconds: number;
  /** Secrets handled per transaction. */
  batchSize: number;
}

/** What one run did. */
export interface ExpiryWarningRun {
  /** `secret.expiring` events written. */
  sent: number;
  /** Warning rows recorded (a threshold passed over for a nearer one crossed at once is recorded, not sent). */
  recorded: number;
}

const DAY_MS = 86_400_000;

/**
 * Sends `secret.expiring` through the event outbox, once per secret, per expiry and per threshold.
 * `runOnce(now)` is the whole job and what tests call with an injected clock; `start` only puts it
 * on a croner timer (`protect: true`). Replicas may all run it: each warning is a row under a
 * unique key written in the transaction of its event, so only the replica whose row lands sends it.
 */
export function createExpiryWarningJob(deps: ExpiryWarningDeps) {
  const { db, clock, logger, thresholds } = deps;
  const thresholdSeconds = thresholds.map((t) => t.seconds);
  let job: Cron | undefined;
  let inFlight: Promise<unknown> | undefined;

  /** Records and sends the warnings due at `now`, a batch of secrets per transaction; then drops rows of expiries passed a day ago. */
  async function runOnce(now: Date = clock.now()): Promise<ExpiryWarningRun> {
    const run: ExpiryWarningRun = { sent: 0, recorded: 0 };
    if (thresholds.length === 0) return run;
    for (let afterId = 0; ; ) {
      const ids = await store.findSecretsDueWarning(db, { now, thresholdSeconds, afterId, limit: deps.batchSize });
      if (ids.length === 0) break;
      await inTransaction(db, async (tx) => {
        const recorded = await store.recordWarnings(tx, { ids, now, thresholdSeconds });
        const events = warningEvents(recorded, thresholds, now);
        await appendEvents(tx, events);
        run.recorded += recorded.length;
        run.sent += events.length;
      });
      if (ids.length < deps.batchSize) break;
      afterId = ids[ids.length - 1]!;
    }
    // A day late: a replica whose clock runs behind this one's still sees the secret unexpired, and
    // without its rows it would warn again.
    await store.purgePassedWarnings(db, new Date(now.getTime() - DAY_MS));
    if (run.recorded > 0) logger.info("secret expiry warnings", { ...run });
    return run;
  }

  return {
    runOnce,
    /** Runs every `tickSeconds`, unless no threshold is configured. */
    start() {
      if (job || thresholds.length === 0) return;
      // Unnamed: croner's job names are process-wide, and one process may host several vaults.
      job = new Cron("* * * * * *", { interval: deps.tickSeconds, protect: true }, async () => {
        inFlight = runOnce().catch((err) => logger.error("secret expiry warnings failed", { err }));
        await inFlight;
      });
    },
    /** Stops the timer and waits for a running pass, so the database can close after it. */
    async stop() {
      job?.stop();
      job = undefined;
      await inFlight;
    },
  };
}

export type ExpiryWarningJob = ReturnType<typeof createExpiryWarningJob>;

/**
 * The events of the rows one transaction recorded: per secret, the nearest threshold it has crossed,
 * and only when that row is among them. When several thresholds are crossed at once (a secret
 * written two days before it expires, or a service that was down through the 30d mark) only the
 * nearest is sent and the farther ones are recorded with it: a "30d" notice two days before expiry
 * would mislead. A threshold added to the setting later is recorded silently once a nearer one was sent.
 */
export function warningEvents(recorded: readonly RecordedWarning[], thresholds: readonly ExpiryThreshold[], now: Date): OutboxEvent[] {
  const bySecret = new Map<number, RecordedWarning[]>();
  for (const row of recorded) bySecret.set(row.secret_id, [...(bySecret.get(row.secret_id) ?? []), row]);
  const events: OutboxEvent[] = [];
  for (const rows of bySecret.values()) {
    const { tenant_id, path, expires_at } = rows[0]!;
    const left = expires_at.getTime() - now.getTime();
    const crossed = thresholds.filter((t) => left <= t.seconds * 1000);
    if (crossed.length === 0) continue;
    const nearest = crossed.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    if (!rows.some((r) => r.threshold_seconds === nearest.seconds)) continue;
    events.push({
      tenantId: tenant_id,
      eventType: "secret.expiring",
      path,
      data: { expires_at: rfc3339(expires_at), threshold: nearest.label, days_remaining: Math.ceil(left / DAY_MS) },
      createdAt: now,
    });
  }
  return events;
}

/** RFC 3339 UTC as the API renders it (`2026-04-23T14:00:00Z`). */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}
