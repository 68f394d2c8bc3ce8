import { Cron } from "croner";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { Db } from "../db/database.js";
import type { Logger } from "../log.js";
import { purgeAuditEntries, purgeDeliveryAttempts, purgeEvents, purgeFinishedDeliveries } from "./retention-store.js";

export interface RetentionDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  retention: Config["retention"];
}

/** Rows each purge removed in one run. */
export interface RetentionRun {
  auditEntries: number;
  events: number;
  deliveries: number;
  attempts: number;
}

/**
 * Purges audit entries past the audit retention and events, finished webhook deliveries and
 * delivery attempts past the event retention, on a croner schedule (`protect: true`: runs never
 * overlap within a replica; several replicas purging at once only share the work). Each
 * statement deletes at most `batchSize` rows in its own transaction.
 */
export function createRetentionJob(deps: RetentionDeps) {
  const { db, clock, logger, retention } = deps;
  let job: Cron | undefined;
  let inFlight: Promise<unknown> | undefined;

  /** Runs one purge until a batch finds nothing more to delete, for each kind of row. */
  async function purgeOnce(): Promise<RetentionRun> {
    const now = clock.now().getTime();
    const auditCutoff = new Date(now - retention.auditSeconds * 1000);
    const eventCutoff = new Date(now - retention.eventSeconds * 1000);
    const drain = async (purge: (db: Db, cutoff: Date, batch: number) => Promise<number>, cutoff: Date) => {
      let total = 0;
      for (;;) {
        const n = await purge(db, cutoff, retention.batchSize);
        total += n;
        if (n === 0) return total;
      }
    };
    // Attempts before deliveries: deleting a delivery takes its attempts with it anyway.
    const run: RetentionRun = {
      auditEntries: await drain(purgeAuditEntries, auditCutoff),
      attempts: await drain(purgeDeliveryAttempts, eventCutoff),
      deliveries: await drain(purgeFinishedDeliveries, eventCutoff),
      events: await drain(purgeEvents, eventCutoff),
    };
    if (run.auditEntries + run.attempts + run.deliveries + run.events > 0) logger.info("retention purge", { ...run });
    return run;
  }

  return {
    purgeOnce,
    start() {
      if (job) return;
      job = new Cron(retention.cron, { protect: true }, async () => {
        inFlight = purgeOnce().catch((err) => logger.error("retention purge failed", { err }));
        await inFlight;
      });
    },
    /** Stops the schedule and waits for a running purge, so the database can close after it. */
    async stop() {
      job?.stop();
      job = undefined;
      await inFlight;
    },
  };
}

export type RetentionJob = ReturnType<typeof createRetentionJob>;
