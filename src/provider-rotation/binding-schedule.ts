import { inTransaction, type Db, type Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import { SCHEDULER_ACTOR } from "../rotation-policies/rotation-engine.js";
import { previousCredentialHold, startRun } from "./rotation-runner.js";
import { spreadKeyOf } from "../rotation-policies/policy-store.js";
import { nextRotationPlan, timingOf, windowMissed, type RotationTiming } from "../rotation-planning/rotation-window.js";
import { findBinding, type BindingRow } from "./binding-store.js";
import { parseTiming, type ParsedTiming } from "../rotation-planning/timing-input.js";

/**
 * A provider-rotation binding's own schedule, instead of a rotation policy's: an interval, or a
 * cron `schedule` in a `timezone` with an optional `rotation_window`. The input is checked by the
 * same function as a policy's (timing-input.ts) and planned by the same functions
 * (rotation-window.ts); the plan lives on the binding row (`next_rotation_at`,
 * `window_closes_at`, fenced by `schedule_cycle`), and the scheduler's tick starts the runs that
 * fall due (`startDueBindingRuns`).
 */

/** The schedule fields of ConfigureSecretRotation. `intervalDays` is DotVault's spelling of `interval`. */
export interface BindingScheduleInput {
  interval?: string;
  intervalDays?: number;
  schedule?: string;
  timezone?: string;
  rotationWindow?: string;
}

/** A binding's stored schedule columns. */
export type BindingScheduleColumns = ParsedTiming["columns"];

/** The columns of a binding without a schedule of its own. */
export const NO_BINDING_SCHEDULE: BindingScheduleColumns = {
  interval: null,
  interval_seconds: null,
  schedule: null,
  timezone: null,
  rotation_window: null,
  rotation_window_seconds: null,
};

const MAX_INTERVAL_DAYS = 3650;

/**
 * The binding's own schedule as given, with a policy's rules; undefined when no schedule field is
 * given. `intervalDays: 30` means `interval: "30d"`; both at once is ambiguous and refused.
 */
export function parseBindingSchedule(input: BindingScheduleInput, now: Date): BindingScheduleColumns | undefined {
  const days = input.intervalDays;
  if (days !== undefined) {
    if (input.interval?.trim()) throw new ScaiVaultError("invalid_request", "give either interval or intervalDays, not both");
    if (!Number.isInteger(days) || days < 1 || days > MAX_INTERVAL_DAYS) throw new ScaiVaultError("invalid_duration", `intervalDays must be a whole number of days from 1 to ${MAX_INTERVAL_DAYS}`);
  }
  const interval = days !== undefined ? `${days}d` : input.interval;
  const given = [interval, input.schedule, input.timezone, input.rotationWindow].some((v) => v !== undefined && v.trim() !== "");
  if (!given) return undefined;
  return parseTiming({ interval, schedule: input.schedule, timezone: input.timezone, rotationWindow: input.rotationWindow }, now).columns;
}

/** The timing of a binding's own schedule; undefined when a policy (or nobody) schedules it. */
export function bindingTimingOf(binding: Pick<BindingRow, "interval_seconds" | "schedule" | "timezone" | "rotation_window_seconds">): RotationTiming | undefined {
  if (binding.interval_seconds === null && binding.schedule === null) return undefined;
  return timingOf(binding);
}

/** Whether the stored schedule is the one given (then a reconfigure keeps its plan and cycle). */
export function sameSchedule(columns: BindingScheduleColumns, binding: BindingRow): boolean {
  return (
    columns.interval_seconds === binding.interval_seconds &&
    columns.schedule === binding.schedule &&
    columns.timezone === binding.timezone &&
    columns.rotation_window_seconds === binding.rotation_window_seconds
  );
}

/**
 * The plan columns of the next rotation after `lastRotation` whose window has not closed at
 * `now`, spread inside its window as a policy's secrets are (the same spread key).
 */
export function bindingPlan(timing: RotationTiming, lastRotation: Date, now: Date, secretId: number) {
  const plan = nextRotationPlan(timing, lastRotation, now, spreadKeyOf(secretId));
  return { next_rotation_at: plan.startAt, window_closes_at: plan.closesAt };
}

/** What became of one due binding. */
export type DueBindingOutcome = "started" | "skipped" | "missed";

/**
 * Starts the runs of bindings whose own schedule is due at `now`, a batch per transaction, until
 * none is left. Replicas share the work through row locks: a batch locks the due secrets with
 * `FOR UPDATE SKIP LOCKED` (secret first, then binding, the writers' order), re-reads each
 * binding under the lock and acts only while it is still due, and moves its plan on (and its
 * `schedule_cycle`) in the same commit. So each occurrence starts one run, whichever replica
 * gets there, and a replica that saw the binding due before another committed finds it planned
 * past `now` and leaves it.
 */
export async function startDueBindingRuns(db: Db, now: Date, batchSize: number): Promise<Record<DueBindingOutcome, number>> {
  const counts: Record<DueBindingOutcome, number> = { started: 0, skipped: 0, missed: 0 };
  for (;;) {
    const outcomes = await inTransaction(db, async (tx) => {
      const secrets = await lockDueSecrets(tx, now, batchSize);
      const done: (DueBindingOutcome | undefined)[] = [];
      for (const secret of secrets) done.push(await actOnDueBinding(tx, secret, now));
      return { locked: secrets.length, done };
    });
    for (const o of outcomes.done) if (o) counts[o] += 1;
    if (outcomes.locked < batchSize) return counts;
  }
}

/** Live secrets whose binding's own schedule is due, locked (rows another transaction holds are skipped). */
async function lockDueSecrets(tx: Tx, now: Date, limit: number): Promise<SecretRow[]> {
  return tx
    .selectFrom("secrets as s")
    .innerJoin("secret_rotations as b", "b.secret_id", "s.id")
    .selectAll("s")
    .where("b.next_rotation_at", "<=", now)
    .where("s.deleted_at", "is", null)
    .orderBy("b.next_rotation_at")
    .orderBy("s.id")
    .limit(limit)
    .forUpdate(["s"])
    .skipLocked()
    .execute();
}

/**
 * One due binding, its secret locked: the run starts and the next occurrence is planned; a paused
 * binding, or one whose previous credential is still in its grace period, skips the occurrence
 * (not queued); a window that closed before any tick saw it is missed and the next one planned.
 */
async function actOnDueBinding(tx: Tx, secret: SecretRow, now: Date): Promise<DueBindingOutcome | undefined> {
  const binding = await findBinding(tx, secret.id, true);
  const timing = binding && bindingTimingOf(binding);
  // Another replica moved it on between our read and our lock, or its schedule was removed.
  if (!binding || !timing || binding.next_rotation_at === null || binding.next_rotation_at > now) return undefined;
  const cycle = { schedule_cycle: binding.schedule_cycle + 1 };
  if (windowMissed({ closesAt: binding.window_closes_at }, now)) {
    await tx
      .updateTable("secret_rotations")
      .set({ ...bindingPlan(timing, binding.last_rotated_at ?? binding.created_at, now, secret.id), ...cycle })
      .where("secret_id", "=", secret.id)
      .execute();
    return "missed";
  }
  // The next occurrence after this one: an interval from now, or the next scheduled time after now.
  await tx
    .updateTable("secret_rotations")
    .set({ ...bindingPlan(timing, now, now, secret.id), ...cycle })
    .where("secret_id", "=", secret.id)
    .execute();
  if (binding.status === "paused" || (await previousCredentialHold(tx, secret.id, now))) return "skipped";
  const started = await startRun(tx, { secret, binding, triggeredBy: "scheduled", actor: SCHEDULER_ACTOR, now });
  return started.created ? "started" : "skipped";
}
