import { ScaiVaultError } from "../errors.js";
import { parseDurationField } from "../secrets/secrets-service.js";
import { MIN_WINDOW_SECONDS, validateSchedule } from "./rotation-window.js";

/**
 * The timing of a rotation as the API receives it (a policy's, or a provider-rotation binding's
 * own), checked once for both: the same rules, the same messages, the same stored columns.
 */

const MIN_INTERVAL_SECONDS = 3600;
/** Ten years: far beyond any sane schedule, and inside the int32 seconds of the API. */
export const MAX_DURATION_SECONDS = 3650 * 86400;

/** The timing fields of a request. */
export interface TimingInput {
  interval?: string;
  schedule?: string;
  timezone?: string;
  rotationWindow?: string;
}

/** An interval: 1h to 3650d, `invalid_duration` otherwise. */
export function parseInterval(text: string): number {
  const seconds = parseDurationField(text, "interval");
  if (seconds < MIN_INTERVAL_SECONDS || seconds > MAX_DURATION_SECONDS) {
    throw new ScaiVaultError("invalid_duration", "interval must be from 1h to 3650d");
  }
  return seconds;
}

/** The columns of a timing, and the shortest time between two of its rotations (what warn_before must stay under). */
export interface ParsedTiming {
  columns: {
    interval: string | null;
    interval_seconds: number | null;
    schedule: string | null;
    timezone: string | null;
    rotation_window: string | null;
    rotation_window_seconds: number | null;
  };
  cycleSeconds: number;
}

/**
 * Checks a timing (a policy's or a binding's own): an interval (1h to 3650d), or a schedule with
 * its zone and optional window (at least 1h, and no longer than the shortest time between two scheduled times, so
 * windows do not overlap). One of interval and schedule is required; zone and window only with a
 * schedule.
 */
export function parseTiming(input: TimingInput, now: Date): ParsedTiming {
  const interval = input.interval?.trim() || undefined;
  const schedule = input.schedule?.trim() || undefined;
  if (interval && schedule) throw new ScaiVaultError("invalid_request", "give either interval or schedule, not both");
  if (!schedule) {
    if (input.timezone) throw new ScaiVaultError("invalid_request", "timezone is only allowed with schedule");
    if (input.rotationWindow) throw new ScaiVaultError("invalid_request", "rotation_window is only allowed with schedule");
    if (!interval) throw new ScaiVaultError("invalid_request", "interval or schedule is required");
    const seconds = parseInterval(interval);
    const columns = { interval, interval_seconds: seconds, schedule: null, timezone: null, rotation_window: null, rotation_window_seconds: null };
    return { columns, cycleSeconds: seconds };
  }
  const valid = validateSchedule(schedule, input.timezone, now);
  const window = input.rotationWindow?.trim() || undefined;
  let windowSeconds: number | null = null;
  if (window) {
    windowSeconds = parseDurationField(window, "rotation_window");
    if (windowSeconds < MIN_WINDOW_SECONDS) throw new ScaiVaultError("invalid_duration", "rotation_window must be at least 1h");
    if (windowSeconds > valid.minGapSeconds) {
      throw new ScaiVaultError("invalid_duration", `rotation_window must not be longer than the time between two scheduled times (${formatSeconds(valid.minGapSeconds)} at the shortest)`);
    }
  }
  const columns = {
    interval: null,
    interval_seconds: null,
    schedule: valid.schedule,
    timezone: valid.timezone,
    rotation_window: window ?? null,
    rotation_window_seconds: windowSeconds,
  };
  return { columns, cycleSeconds: valid.minGapSeconds };
}

/** `86400` → `24h`, for messages. */
export function formatSeconds(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

