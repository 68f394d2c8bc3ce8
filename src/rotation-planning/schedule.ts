import { parseDuration } from "../duration.js";
import { nextRotationPlan, windowMissed, type RotationPlan, type RotationTiming } from "./rotation-window.js";

/** Next rotation of an interval policy = last rotation (or assignment) + interval; `nextRotationPlan` covers schedules too. */
export function nextRotationAt(policy: { intervalSeconds: number }, from: Date): Date {
  return new Date(from.getTime() + policy.intervalSeconds * 1000);
}

/** One warn_before threshold: the text the API shows (`7d`) and its seconds. */
export interface WarnThreshold {
  label: string;
  seconds: number;
}

/** Splits a stored `warn_before` text (`7d,1d`) into thresholds; the text was validated when the policy was written. */
export function warnThresholdsOf(warnBefore: string | null): WarnThreshold[] {
  if (!warnBefore) return [];
  return warnBefore.split(",").map((label) => ({ label, seconds: parseDuration(label) }));
}

/**
 * The warning to send now, if any, for a rotation due at `next` (still in the future). Thresholds
 * already sent this cycle (`warned`, in seconds) are skipped. When several were crossed at once
 * (the service was down through the earlier one) only the nearest is sent and the others are
 * marked as sent with it: a late "7d" notice a day before the rotation would mislead.
 */
export function warningDue(thresholds: WarnThreshold[], next: Date, warned: readonly number[], now: Date): { label: string; markWarned: number[] } | undefined {
  const crossed = thresholds.filter((t) => next.getTime() - t.seconds * 1000 <= now.getTime() && !warned.includes(t.seconds));
  if (crossed.length === 0) return undefined;
  const nearest = crossed.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { label: nearest.label, markWarned: crossed.map((t) => t.seconds) };
}

/**
 * The entry of an assignment's `warned` list (thresholds sent this cycle, in seconds) that records
 * the due announcement of an event-driven policy, so it is made once per cycle, not every tick.
 * The claim query in rotation-store.ts tests for the same 0.
 */
export const DUE_ANNOUNCED = 0;

/** A generated rotation is tried this many times per cycle before the scheduler waits for the next cycle. */
export const MAX_ROTATION_ATTEMPTS = 3;
const retryDelaysSeconds = [5 * 60, 30 * 60];

/** What follows a failed scheduled attempt: a retry at `retryAt`, or giving up until the next cycle's plan. */
export type AfterFailure = { giveUp: false; retryAt: Date } | { giveUp: true; nextCycle: RotationPlan };

/**
 * What follows a failed scheduled attempt (1-based): a retry after a growing delay, or, after the
 * last attempt, the next cycle (an interval after now, or the next scheduled window), so a broken
 * rotation is not retried every tick. A retry that would fall after the window closes is not
 * made: the rotation waits for the next window instead.
 */
export function afterFailedAttempt(attempt: number, policy: RotationTiming, window: { closesAt: Date | null }, now: Date, spreadKey: string): AfterFailure {
  if (attempt < MAX_ROTATION_ATTEMPTS) {
    const delay = retryDelaysSeconds[Math.min(attempt, retryDelaysSeconds.length) - 1]!;
    const retryAt = new Date(now.getTime() + delay * 1000);
    if (!windowMissed(window, retryAt)) return { giveUp: false, retryAt };
  }
  return { giveUp: true, nextCycle: nextRotationPlan(policy, now, now, spreadKey) };
}

/**
 * Where a schedule resumes after its policy was disabled: occurrences that fell due while it was
 * disabled are skipped (not queued). An interval schedule keeps its phase: `next + k·interval`,
 * the first such time after `now`; a cron schedule takes its first window opening after `now`.
 */
export function resumeAfterPause(policy: RotationTiming, next: Date, now: Date, spreadKey: string): RotationPlan {
  if (policy.schedule !== null) return nextRotationPlan(policy, now, now, spreadKey);
  const resumed = skipMissedRotations(next, policy.intervalSeconds!, now);
  return { opensAt: resumed, closesAt: null, startAt: resumed };
}

/** The interval case of `resumeAfterPause`: `next + k·interval`, the first such time after `now`. */
export function skipMissedRotations(next: Date, intervalSeconds: number, now: Date): Date {
  if (next > now) return next;
  const step = intervalSeconds * 1000;
  const missed = Math.floor((now.getTime() - next.getTime()) / step) + 1;
  return new Date(next.getTime() + missed * step);
}
