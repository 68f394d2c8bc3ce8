import type { CallContext } from "../auth/principal.js";
import type { Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { audit } from "./rotation-runner.js";
import { BEFORE_PROMOTE_STEPS } from "./run-situation.js";
import * as store from "./binding-store.js";
import type { RunRow } from "./binding-store.js";

/**
 * Emergency rotation ("a credential leaked, rotate now"): it is not refused while an earlier run's
 * old credential is in its grace period. That credential is revoked first (by the new run's
 * `revoke_previous` step, before anything is created: it is the one presumed leaked, or its slot
 * is needed), then a new credential is created, tested and promoted, and the replaced one gets
 * the grace period the call asked for.
 */

/** What an emergency rotation will revoke before it creates the new credential. */
export interface EmergencyRevocation {
  /** The version whose credential is revoked first. */
  version: number;
  /** The earlier run it belongs to. */
  runId: string;
}

/** An emergency rotation needs `admin` besides `secrets:rotate`: it stops credentials before their grace period ends. */
export function requireEmergencyScope(call: CallContext): void {
  if (!call.principal.scopes.has("admin")) {
    throw new ScaiVaultError("access_denied", "an emergency rotation needs the admin scope besides secrets:rotate");
  }
}

/**
 * The earlier credential that is still valid at the provider: the old version of the newest run
 * that got past promote, while that version is not yet revoked. Undefined when there is none.
 */
export async function credentialStillValid(tx: Tx, secretId: number): Promise<EmergencyRevocation | undefined> {
  const latest = await store.findLastPromotedRun(tx, secretId);
  if (!latest || latest.old_version === null || !["verify", "revoke"].includes(latest.step)) return undefined;
  if (!["running", "waiting_grace", "failed", "superseded"].includes(latest.status)) return undefined;
  const old = await store.findVersionRow(tx, secretId, latest.old_version);
  if (!old || old.rotation_state !== null) return undefined;
  return { version: latest.old_version, runId: latest.id };
}

/**
 * Clears the way for an emergency run in the caller's transaction (the secret is locked): a run
 * still verifying or waiting out its grace period is closed as `superseded` and fenced off, so
 * no worker goes on with it; the emergency run then revokes its old credential first. A run still
 * before promote is left open: the emergency joins it (see `hurryOpenRun`).
 */
export async function supersedeForEmergency(tx: Tx, secretId: number, now: Date): Promise<RunRow | undefined> {
  const open = await store.findOpenRun(tx, secretId);
  if (!open || BEFORE_PROMOTE_STEPS.includes(open.step)) return undefined;
  const locked = (await store.findRun(tx, open.id, true))!;
  const superseded = await store.updateRun(
    tx,
    locked.id,
    { status: "superseded", finished_at: now, claimed_until: null, fence: locked.fence + 1 },
    { step: "superseded", status: "succeeded", attempt: 1, at: now.toISOString(), detail: `superseded by an emergency rotation; version ${locked.old_version} is revoked before its next credential is created` },
  );
  await audit(tx, superseded, "superseded", now, "allowed", locked.old_version);
  return superseded;
}

/**
 * An emergency that finds a run still creating its credential joins it: the run takes the
 * emergency's flag, reason and grace period, and its next attempt is due now instead of after its
 * backoff.
 */
export async function hurryOpenRun(tx: Tx, run: RunRow, given: { reason?: string; graceSeconds?: number }, now: Date): Promise<RunRow> {
  return store.updateRun(tx, run.id, {
    emergency: true,
    reason: given.reason ?? run.reason,
    grace_seconds: given.graceSeconds ?? run.grace_seconds,
    next_attempt_at: run.next_attempt_at > now ? now : run.next_attempt_at,
  });
}

/** The sentence an emergency rotation answers with: what was revoked, what is current, when the replaced credential goes. */
export function emergencySummary(run: RunRow, revoked: EmergencyRevocation | undefined): string {
  const parts: string[] = [];
  const first = run.steps.find((s) => s.step === "revoke_previous" && s.status === "succeeded");
  if (revoked && first) parts.push(`version ${revoked.version} (of ${revoked.runId}) was revoked at the provider at ${first.at}`);
  else if (revoked) parts.push(`version ${revoked.version} (of ${revoked.runId}) is not revoked yet`);
  if (run.new_version !== null) parts.push(`version ${run.new_version} is current`);
  const replacedRevoked = run.steps.some((s) => s.step === "revoke" && s.status === "succeeded");
  if (run.old_version !== null && replacedRevoked) parts.push(`version ${run.old_version} was revoked once verify passed`);
  else if (run.old_version !== null && run.revoke_at) parts.push(`version ${run.old_version} stays valid until ${run.revoke_at.toISOString()} and is revoked once verify has passed`);
  return parts.join("; ");
}
