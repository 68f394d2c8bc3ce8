import type { Db } from "../db/database.js";
import { contractErrorOfDatabase } from "../db/database-errors.js";
import type { Logger } from "../log.js";
import { appendAuditEntries, type AuditEntry } from "./audit-store.js";

/**
 * Group commit for the audit entries of reads: entries that arrive while a batch is being written
 * go into the next one, so one INSERT commits many reads' entries. `append` resolves only once
 * the entry is durable, so a read still returns its value only after its audit entry is recorded
 * (and fails when it cannot be: fail closed).
 */
export interface AuditWriter {
  append(entry: AuditEntry): Promise<void>;
  /** Waits for everything queued so far. */
  drain(): Promise<void>;
  /** How many INSERTs carried how many entries so far (group-commit effectiveness). */
  stats(): { batches: number; entries: number };
}

/** Creates the writer; `maxBatch` bounds one INSERT (1: no group commit, each entry is written at once in its own). */
export function createAuditWriter(deps: { db: Db; logger: Logger; maxBatch?: number }): AuditWriter {
  const maxBatch = deps.maxBatch ?? 500;
  let queue: { entry: AuditEntry; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let running: Promise<void> | undefined;
  let batches = 0;
  let entries = 0;

  async function run() {
    // Let the reads of this turn of the event loop join the batch: fewer, larger INSERTs.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        batches++;
        entries += batch.length;
        await appendAuditEntries(deps.db, batch.map((b) => b.entry));
        for (const b of batch) b.resolve();
      } catch (err) {
        deps.logger.error("audit write failed", { entries: batch.length, err });
        // One entry the database refuses must not fail the other reads of the batch (they may be
        // other tenants'): write each on its own, so only the bad one's call fails. When the
        // database is down every entry would fail the same way, so that is not retried.
        if (batch.length === 1 || contractErrorOfDatabase(err)?.code === "unavailable") {
          for (const b of batch) b.reject(err);
          continue;
        }
        await Promise.all(
          batch.map((b) =>
            appendAuditEntries(deps.db, [b.entry]).then(b.resolve, (entryErr: unknown) => {
              deps.logger.error("audit write of one entry failed", { requestId: b.entry.requestId, err: entryErr });
              b.reject(entryErr);
            }),
          ),
        );
      }
    }
    running = undefined;
  }

  return {
    append(entry) {
      if (maxBatch === 1) {
        batches++;
        entries++;
        return appendAuditEntries(deps.db, [entry]);
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ entry, resolve, reject });
        running ??= run();
      });
    },
    async drain() {
      while (running) await running;
    },
    stats: () => ({ batches, entries }),
  };
}
