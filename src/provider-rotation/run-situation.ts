import type { RunRow } from "./binding-store.js";

/** The steps before the new credential is promoted: failing there changes nothing for readers. */
export const BEFORE_PROMOTE_STEPS: readonly string[] = ["preflight", "create", "test", "promote"];

/** Where a failed (or failing) provider rotation leaves the secret, in words, and the calls that get out of it. */
export interface RunSituation {
  /** What is current, what is still valid at the provider, what happens next. */
  situation: string;
  /** The calls that resolve it, by name: `rollback`, `retry`, `resolve`, `rotate`. */
  waysOut: string[];
}

/**
 * The situation at `now` after `run` failed at its step (or, with `willRetryAt`, after one failed attempt).
 * Before promote nothing changed for readers; from verify on the new version is current and the
 * old credential is still valid, because nothing is revoked under doubt.
 */
export function situationOf(run: RunRow, now: Date, willRetryAt?: Date): RunSituation {
  const base = `/v1/rotation/secrets/${run.path}`;
  // The retry's time travels beside this text (`next_attempt_at`); the text says only where things stand.
  const next = "";
  if (BEFORE_PROMOTE_STEPS.includes(run.step)) {
    const discarded = run.new_version !== null ? ` The new credential (version ${run.new_version}) is discarded and revoked at the provider.` : "";
    return {
      situation: `Version ${run.old_version} is still current and valid at the provider; nothing changed for readers.${discarded}${next}${willRetryAt ? "" : ` Fix the cause (provider reachable, credentials accepted: POST ${base}/test), then POST ${base}/retry.`}`,
      waysOut: willRetryAt ? [] : ["retry"],
    };
  }
  const grace = run.revoke_at ? (run.revoke_at > now ? `its grace period runs until ${run.revoke_at.toISOString()}` : `its grace period ended at ${run.revoke_at.toISOString()}`) : "";
  const what = run.step === "verify" ? "the propagation check did not pass" : `revoking version ${run.old_version} at the provider failed`;
  return {
    situation:
      `Version ${run.new_version} is current (promoted); version ${run.old_version} is still valid at the provider and readable${grace ? ` (${grace})` : ""}, because ${what} and nothing is revoked under doubt.${next}` +
      (willRetryAt ? "" : ` Ways out: POST ${base}/retry (run ${run.step} again now), POST ${base}/resolve (accept version ${run.new_version} and revoke version ${run.old_version} now, skipping the check), POST ${base}/rollback (make version ${run.old_version} current again and revoke version ${run.new_version}).`),
    waysOut: willRetryAt ? [] : ["retry", "resolve", "rollback"],
  };
}
