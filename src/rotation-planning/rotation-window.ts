import { createHash } from "node:crypto";
import { Cron } from "croner";
import { BoundedMap } from "../bounded-map.js";
import { ScaiVaultError } from "../errors.js";

/**
 * When a policy's rotations happen, as pure functions of (policy, last rotation, now): an interval
 * from the last rotation, or a cron schedule evaluated by croner in a time zone, optionally with a
 * rotation window after each scheduled time. The scheduler, the API, assignment and (at merge)
 * provider rotations all ask these functions; none of them reads a clock.
 */

/** How a policy times its rotations: exactly one of `intervalSeconds` and `schedule` is set. */
export interface RotationTiming {
  intervalSeconds: number | null;
  /** A 5-field cron expression, evaluated in `timezone`. */
  schedule: string | null;
  /** IANA zone of the schedule (`UTC` when none was given). */
  timezone: string | null;
  /** How long after each scheduled time a rotation may start; null = no limit. */
  rotationWindowSeconds: number | null;
}

/** The window a rotation belongs to: it may start from `opensAt` until `closesAt` (exclusive; null = no limit). */
export interface RotationWindow {
  opensAt: Date;
  closesAt: Date | null;
}

/** A planned rotation: its window and the moment inside it the scheduler acts. */
export interface RotationPlan extends RotationWindow {
  startAt: Date;
}

/** The share of a window in which starts are spread; the rest is left for the rotation to finish inside the window. */
export const START_SPREAD_FRACTION = 0.9;
/** The shortest rotation window, and the most often a schedule may fire. */
export const MIN_WINDOW_SECONDS = 3600;
/** How many upcoming openings `validateSchedule` looks at to learn the shortest time between two of them. */
const GAP_SAMPLE = 50;

/** The timing of a stored policy row. */
export function timingOf(row: { interval_seconds: number | null; schedule: string | null; timezone: string | null; rotation_window_seconds: number | null }): RotationTiming {
  return { intervalSeconds: row.interval_seconds, schedule: row.schedule, timezone: row.timezone, rotationWindowSeconds: row.rotation_window_seconds };
}

/**
 * The window of the next rotation after `lastRotation` (or the assignment) that has not closed at
 * `now`. Interval: opens at last + interval, no close (a rotation missed during downtime happens
 * once on recovery). Schedule: the first scheduled time after the last rotation, skipping windows
 * that closed before `now` (a missed window waits for the next one); without a rotation window it
 * never closes, like an interval's due time. A rotation inside a window therefore never gets that
 * window again: the next one opens after it.
 */
export function nextRotationWindow(policy: RotationTiming, lastRotation: Date, now: Date): RotationWindow {
  if (policy.schedule === null) {
    if (policy.intervalSeconds === null) throw new Error("a rotation policy has neither interval nor schedule");
    return { opensAt: new Date(lastRotation.getTime() + policy.intervalSeconds * 1000), closesAt: null };
  }
  const windowMs = policy.rotationWindowSeconds === null ? null : policy.rotationWindowSeconds * 1000;
  // A window that opened at o is still open at now when o + window > now, i.e. o > now - window;
  // croner's nextRun(from) is the first scheduled time strictly after `from`.
  const from = windowMs === null ? lastRotation : new Date(Math.max(lastRotation.getTime(), now.getTime() - windowMs));
  const opensAt = scheduledAfter(policy.schedule, policy.timezone, from);
  return { opensAt, closesAt: windowMs === null ? null : new Date(opensAt.getTime() + windowMs) };
}

/**
 * Where inside `window` the rotation of one secret starts, spread so that the secrets of a policy
 * do not all rotate at the opening. The spread is a hash of `spreadKey` (the secret) and the
 * window, so every replica computing it agrees. Starts fall in the first 90 % of the window; a
 * plan made while the window is already open spreads over what is left of it. Without a window
 * the rotation starts at the opening.
 */
export function rotationStartAt(window: RotationWindow, spreadKey: string, now: Date): Date {
  if (window.closesAt === null) return window.opensAt;
  const opens = window.opensAt.getTime();
  const latest = opens + Math.floor((window.closesAt.getTime() - opens) * START_SPREAD_FRACTION);
  const earliest = Math.max(opens, now.getTime());
  if (earliest >= latest) return new Date(earliest);
  const offset = Math.floor(spreadFraction(spreadKey, window.opensAt) * (latest - earliest));
  // Whole seconds: the API renders timestamps to the second.
  return new Date(Math.ceil((earliest + offset) / 1000) * 1000);
}

/** `nextRotationWindow` and `rotationStartAt` together: what an assignment stores as its next rotation. */
export function nextRotationPlan(policy: RotationTiming, lastRotation: Date, now: Date, spreadKey: string): RotationPlan {
  const window = nextRotationWindow(policy, lastRotation, now);
  return { ...window, startAt: rotationStartAt(window, spreadKey, now) };
}

/** True once a window has closed without its rotation: it then waits for the next window. */
export function windowMissed(window: { closesAt: Date | null }, now: Date): boolean {
  return window.closesAt !== null && now.getTime() >= window.closesAt.getTime();
}

/** The next `count` scheduled times after `now` (none for an interval policy): the policy's `next_windows`. */
export function nextWindowOpenings(policy: RotationTiming, now: Date, count = 3): Date[] {
  if (policy.schedule === null) return [];
  return cronOf(policy.schedule, policy.timezone).nextRuns(count, now);
}

/** A validated schedule: the expression and zone as stored, and the shortest time between two upcoming scheduled times. */
export interface ValidSchedule {
  schedule: string;
  timezone: string;
  minGapSeconds: number;
}

/**
 * Checks a schedule as the API receives it: a 5-field cron expression croner accepts, an IANA
 * zone (default `UTC`, stored in its canonical spelling), firing at least twice more and never
 * more often than hourly. Errors are `invalid_request` naming the field.
 */
export function validateSchedule(expression: string, timezone: string | undefined, now: Date): ValidSchedule {
  const zone = canonicalZone(timezone);
  const schedule = expression.trim().replace(/\s+/g, " ");
  let cron: Cron;
  try {
    cron = new Cron(schedule, { timezone: zone, mode: "5-part", paused: true });
  } catch (err) {
    throw new ScaiVaultError("invalid_request", `schedule is not a valid 5-field cron expression: ${err instanceof Error ? err.message.replace(/^CronPattern: /, "") : "unreadable"}`);
  }
  // One minute value per hour at most: two values an hour apart at the least would still be two
  // rotations in an hour somewhere (a list, a range, a step, or `*`). Nicknames (`@daily`) fire on minute 0.
  const minute = schedule.startsWith("@") ? "0" : schedule.split(" ")[0]!;
  if (!/^\d{1,2}$/.test(minute)) throw new ScaiVaultError("invalid_request", "schedule fires more often than every hour: its minute field must be a single number");
  const upcoming = cron.nextRuns(GAP_SAMPLE, now);
  if (upcoming.length < 2) throw new ScaiVaultError("invalid_request", "schedule never fires (or only once more)");
  let minGapMs = Infinity;
  for (let i = 1; i < upcoming.length; i++) minGapMs = Math.min(minGapMs, upcoming[i]!.getTime() - upcoming[i - 1]!.getTime());
  // A time zone whose clocks move by half an hour can make an hourly schedule fire twice in an hour.
  if (minGapMs < MIN_WINDOW_SECONDS * 1000) throw new ScaiVaultError("invalid_request", "schedule fires more often than every hour");
  return { schedule, timezone: zone, minGapSeconds: Math.floor(minGapMs / 1000) };
}

/** The canonical spelling of an IANA zone name (`europe/berlin` → `Europe/Berlin`); `invalid_request` naming `timezone` otherwise. */
export function canonicalZone(timezone: string | undefined): string {
  const name = (timezone ?? "").trim() || "UTC";
  // IANA names only: no bare offsets such as +01:00, which would not follow daylight saving.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name)) throw new ScaiVaultError("invalid_request", `timezone ${JSON.stringify(name)} is not an IANA time zone name`);
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new ScaiVaultError("invalid_request", `timezone ${JSON.stringify(name)} is not a known IANA time zone`);
  }
}

/** The first scheduled time strictly after `from`. */
function scheduledAfter(schedule: string, timezone: string | null, from: Date): Date {
  const next = nextRunMemo(schedule, timezone ?? "UTC", from);
  // validateSchedule refused expressions that stop firing; 5-field expressions repeat at least every few years.
  if (!next) throw new Error(`schedule ${schedule} has no time after ${from.toISOString()}`);
  return next;
}

// Parsed expressions and recent answers, remembered: a scheduler tick rotates many secrets of one
// policy at one `now`, and each asks for the same next window. Both maps only cache pure answers.
const MEMO_LIMIT = 1000;
const crons = new BoundedMap<string, Cron>(MEMO_LIMIT);
const nextRuns = new BoundedMap<string, Date | null>(MEMO_LIMIT);

function cronOf(schedule: string, timezone: string | null): Cron {
  const key = `${timezone ?? "UTC"}\0${schedule}`;
  let cron = crons.get(key);
  if (!cron) {
    cron = new Cron(schedule, { timezone: timezone ?? "UTC", mode: "5-part", paused: true });
    crons.set(key, cron);
  }
  return cron;
}

function nextRunMemo(schedule: string, timezone: string, from: Date): Date | null {
  const key = `${timezone}\0${schedule}\0${from.getTime()}`;
  if (nextRuns.has(key)) return nextRuns.get(key)!;
  const next = cronOf(schedule, timezone).nextRun(from);
  nextRuns.set(key, next);
  return next;
}

/** A number in [0, 1) from a secret and a window: the same on every replica, different across secrets and windows. */
function spreadFraction(spreadKey: string, opensAt: Date): number {
  const digest = createHash("sha256").update(`${spreadKey}\0${opensAt.toISOString()}`).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}
