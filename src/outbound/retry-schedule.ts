// When a failed delivery is tried again: pure calculations over the attempt number, so the
// worker's timer is only a shell around them.

/** Delays after attempt 1, 2, …: about 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, 24 h (≈ 31 h in all). */
export const retryDelaysSeconds = [5, 30, 120, 600, 3600, 6 * 3600, 24 * 3600] as const;
/** The first attempt plus one retry per delay; after the last the delivery is failed. */
export const maxDeliveryAttempts = retryDelaysSeconds.length + 1;
/** Jitter spreads retries of many deliveries: each delay is scaled by a factor in [1 - j, 1 + j). */
export const retryJitter = 0.1;
/** The longest wait a receiver's Retry-After can ask for. */
export const maxRetryAfterSeconds = 24 * 3600;

/** The next attempt time after a failed attempt, or undefined when the attempts are spent. */
export function nextAttemptAt(attempt: number, failedAt: Date, options: { random?: () => number; retryAfterSeconds?: number } = {}): Date | undefined {
  if (attempt >= maxDeliveryAttempts) return undefined;
  const base = retryDelaysSeconds[Math.max(0, attempt - 1)]!;
  const factor = 1 - retryJitter + 2 * retryJitter * (options.random ?? Math.random)();
  const backoffMs = base * 1000 * factor;
  const askedMs = Math.min(options.retryAfterSeconds ?? 0, maxRetryAfterSeconds) * 1000;
  return new Date(failedAt.getTime() + Math.round(Math.max(backoffMs, askedMs)));
}

/** Reads a Retry-After header (delta-seconds or an HTTP date) as seconds from `now`; undefined when absent or malformed. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}
