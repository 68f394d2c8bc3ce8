// The stamp checks of cached reads, grouped: checks asked for while one statement is in flight
// go into the next one, so under load one indexed statement checks many reads' cached rows
// instead of one statement (and one pooled connection) per read, as the audit entries of reads
// are group-committed (audit/audit-writer.ts).
//
// The promise of a check is unchanged by grouping: a check's statement begins after the check was
// asked for, so it sees every write acknowledged before the read began.
import type { Executor } from "../db/database.js";
import { currentStampsOf, type CurrentStamps } from "./secrets-store.js";

export interface StampChecker {
  /** The current stamps of a secret's row and of `version` (default: the current one); undefined when the secret row is gone. */
  check(secretId: number, version: number | undefined): Promise<CurrentStamps | undefined>;
  /** How many statements carried how many checks so far (grouping's effectiveness). */
  stats(): { statements: number; checks: number };
}

interface PendingCheck {
  secretId: number;
  version: number | undefined;
  resolve: (stamps: CurrentStamps | undefined) => void;
  reject: (err: unknown) => void;
}

/** Creates the checker; `maxBatch` bounds the checks of one statement. */
export function createStampChecker(db: Executor, maxBatch = 256): StampChecker {
  const state = { queue: [] as PendingCheck[], running: undefined as Promise<void> | undefined, statements: 0, checks: 0 };
  return {
    check(secretId, version) {
      return new Promise((resolve, reject) => {
        state.queue.push({ secretId, version, resolve, reject });
        state.running ??= runChecks(db, state, maxBatch);
      });
    },
    stats: () => ({ statements: state.statements, checks: state.checks }),
  };
}

async function runChecks(db: Executor, state: { queue: PendingCheck[]; running: Promise<void> | undefined; statements: number; checks: number }, maxBatch: number) {
  try {
    while (state.queue.length > 0) {
      const batch = state.queue.splice(0, maxBatch);
      state.statements++;
      state.checks += batch.length;
      try {
        const stamps = await currentStampsOf(db, batch);
        batch.forEach((check, i) => check.resolve(stamps[i]));
      } catch (err) {
        for (const check of batch) check.reject(err);
      }
    }
  } finally {
    state.running = undefined;
  }
}
