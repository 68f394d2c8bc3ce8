import { sql } from "kysely";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import type { Logger } from "../log.js";

/**
 * Counts reads off the read path: reads bump an in-memory counter, and a timer flushes the counts
 * (per secret per day) and `last_accessed_at` in one statement. `close()` flushes what is left, so a
 * graceful shutdown loses nothing.
 */
export interface AccessRecorder {
  record(secretId: number): void;
  /** Reads counted but not flushed yet (so metadata is exact between flushes). */
  pending(secretId: number): number;
  lastAccess(secretId: number): Date | undefined;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Creates the recorder; `intervalMs` is how often it flushes. */
export function createAccessRecorder(deps: { db: Db; clock: Clock; logger: Logger; intervalMs: number }): AccessRecorder {
  let counts = new Map<number, { n: number; last: Date }>();
  // Batches taken out of `counts` but not committed yet: still "pending" for readers until they are.
  const unflushed = new Set<Map<number, { n: number; last: Date }>>();
  let flushing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => void recorder.flush(), deps.intervalMs);
  timer.unref();

  async function write(batch: Map<number, { n: number; last: Date }>) {
    try {
      await deps.db.transaction().execute(async (tx) => {
        // Chunks keep each statement well under PostgreSQL's 65,535 bind parameters.
        const all = [...batch];
        for (let i = 0; i < all.length; i += 2000) {
          const chunk = all.slice(i, i + 2000);
          // Secrets may be destroyed between the read and the flush: only count those still there.
          const live = new Set(
            (await tx.selectFrom("secrets").select("id").where("id", "in", chunk.map(([id]) => id)).execute()).map((r) => r.id),
          );
          const touched = chunk.filter(([id]) => live.has(id));
          if (touched.length === 0) continue;
          await tx
            .insertInto("secret_access_daily")
            .values(touched.map(([id, c]) => ({ secret_id: id, day: c.last.toISOString().slice(0, 10), count: c.n })))
            .onConflict((oc) => oc.columns(["secret_id", "day"]).doUpdateSet({ count: sql`secret_access_daily.count + excluded.count` }))
            .execute();
          // One statement for the whole chunk: a busy replica reads hundreds of secrets a second.
          await sql`
            update secrets set last_accessed_at = v.last
            from (values ${sql.join(touched.map(([id, c]) => sql`(${id}::bigint, ${c.last}::timestamptz)`))}) as v(id, last)
            where secrets.id = v.id and (secrets.last_accessed_at is null or secrets.last_accessed_at < v.last)
          `.execute(tx);
        }
      });
    } catch (err) {
      deps.logger.error("flushing access counts failed; keeping them for the next flush", { err });
      for (const [id, c] of batch) {
        const now = counts.get(id);
        counts.set(id, { n: c.n + (now?.n ?? 0), last: now && now.last > c.last ? now.last : c.last });
      }
    } finally {
      unflushed.delete(batch);
    }
  }

  const recorder: AccessRecorder = {
    record(secretId) {
      const entry = counts.get(secretId);
      const now = deps.clock.now();
      if (entry) {
        entry.n += 1;
        entry.last = now;
      } else counts.set(secretId, { n: 1, last: now });
    },
    pending(id) {
      let n = counts.get(id)?.n ?? 0;
      for (const batch of unflushed) n += batch.get(id)?.n ?? 0;
      return n;
    },
    lastAccess(id) {
      let last = counts.get(id)?.last;
      for (const batch of unflushed) {
        const l = batch.get(id)?.last;
        if (l && (!last || l > last)) last = l;
      }
      return last;
    },
    flush() {
      const batch = counts;
      if (batch.size === 0) return flushing;
      counts = new Map();
      unflushed.add(batch);
      flushing = flushing.then(() => write(batch));
      return flushing;
    },
    async close() {
      clearInterval(timer);
      await recorder.flush();
    },
  };
  return recorder;
}
