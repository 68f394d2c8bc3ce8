import type { CallContext } from "../auth/principal.js";
import type { Db, Tx } from "../db/database.js";
import type { SecretRow } from "../secrets/secrets-store.js";

// What rotation policies need of provider rotation, declared here so that this feature imports
// nothing of it: a policy's due or manually rotated secret that is bound to a provider rotates
// through its provider. provider-rotation/policy-runs.ts implements it; the composition root
// hands it in.

/** A secret bound to a provider, as the policy side sees it. */
export interface BoundSecret {
  /** Its new credential can only come from its operator (stripe's supplied mode): a due rotation is announced instead. */
  waitsForSuppliedValue: boolean;
}

/** A provider-bound secret's rotate-now, as a policy's history item records it. */
export interface BoundRotation {
  runId: string;
  version: number;
  previousVersion: number;
  rotatedAt: Date;
}

export interface ProviderRuns {
  /** Of these secrets, the ones bound to a provider. */
  boundOf(tx: Tx, secretIds: number[]): Promise<Map<number, BoundSecret>>;
  /** Starts the scheduled run of a due bound secret, or skips it while its binding is paused or an earlier credential is in its grace period. */
  startScheduledRun(tx: Tx, secret: SecretRow, now: Date): Promise<"started" | "skipped">;
  /** Starts the runs of bindings that carry their own schedule and are due. */
  startDueBindingRuns(db: Db, now: Date, batchSize: number): Promise<Record<"started" | "skipped" | "missed", number>>;
  /** Rotates a bound secret now through its provider (after the caller's transaction); undefined when it has no binding. */
  rotateNow(call: CallContext, secret: SecretRow): Promise<BoundRotation | undefined>;
}
