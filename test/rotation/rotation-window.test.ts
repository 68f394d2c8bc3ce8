import { Cron } from "croner";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ScaiVaultError } from "../../src/errors.js";
import {
  canonicalZone,
  nextRotationPlan,
  nextRotationWindow,
  nextWindowOpenings,
  rotationStartAt,
  START_SPREAD_FRACTION,
  validateSchedule,
  windowMissed,
  type RotationPlan,
  type RotationTiming,
} from "../../src/rotation-planning/rotation-window.js";
import { afterFailedAttempt, resumeAfterPause } from "../../src/rotation-planning/schedule.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ZONES = ["UTC", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo"];

/** croner on its own, a fresh instance: what the computed windows must agree with. */
function cronerNextRun(schedule: string, timezone: string, from: Date): Date | null {
  return new Cron(schedule, { timezone, mode: "5-part", paused: true }).nextRun(from);
}

function scheduled(schedule: string, timezone: string, windowSeconds: number | null): RotationTiming {
  return { intervalSeconds: null, schedule, timezone, rotationWindowSeconds: windowSeconds };
}

// Cron fields as people write them; the minute is always one number (a schedule may fire at most hourly).
const hourField = fc.oneof(
  fc.constant("*"),
  fc.integer({ min: 0, max: 23 }).map(String),
  fc.tuple(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 12, max: 23 })).map(([a, b]) => `${a},${b}`),
  fc.tuple(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 12, max: 23 })).map(([a, b]) => `${a}-${b}`),
  fc.integer({ min: 2, max: 12 }).map((n) => `*/${n}`),
);
const domField = fc.oneof(fc.constant("*"), fc.integer({ min: 1, max: 28 }).map(String), fc.constant("1,15"), fc.constant("L"), fc.constant("10-20"));
const monthField = fc.oneof(fc.constant("*"), fc.constant("*"), fc.integer({ min: 1, max: 12 }).map(String), fc.constant("1,4,7,10"), fc.constant("MAR-OCT"));
const dowField = fc.oneof(fc.constant("*"), fc.constant("*"), fc.integer({ min: 0, max: 6 }).map(String), fc.constant("MON-FRI"), fc.constant("SAT"), fc.constant("SUN,WED"));
const expression = fc.tuple(fc.integer({ min: 0, max: 59 }), hourField, domField, monthField, dowField).map((parts) => parts.join(" "));
const instant = fc.integer({ min: Date.parse("2026-01-01T00:00:00Z"), max: Date.parse("2028-12-31T00:00:00Z") }).map((ms) => new Date(ms));

/** A generated policy with a window (a share of the shortest time between two scheduled times), its last rotation and a later "now". */
const scenario = fc
  .record({
    expression,
    zone: fc.constantFrom(...ZONES),
    windowShare: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
    last: instant,
    ahead: fc.integer({ min: 0, max: 90 * DAY }),
    secret: fc.integer({ min: 1, max: 1_000_000 }),
  })
  .map((s) => {
    const valid = validateSchedule(s.expression, s.zone, s.last);
    const windowSeconds = s.windowShare === null ? null : Math.max(3600, Math.floor(valid.minGapSeconds * s.windowShare));
    return { ...s, policy: scheduled(valid.schedule, valid.timezone, windowSeconds), now: new Date(s.last.getTime() + s.ahead), key: `secret:${s.secret}` };
  });

describe("next rotation windows, property-tested against croner", () => {
  it("the next window opens at croner's nextRun, after the last rotation, and has not closed by now", () => {
    fc.assert(
      fc.property(scenario, ({ policy, last, now }) => {
        const window = nextRotationWindow(policy, last, now);
        const windowMs = policy.rotationWindowSeconds === null ? null : policy.rotationWindowSeconds * 1000;
        const from = windowMs === null ? last : new Date(Math.max(last.getTime(), now.getTime() - windowMs));
        expect(window.opensAt).toEqual(cronerNextRun(policy.schedule!, policy.timezone!, from));
        expect(window.opensAt.getTime()).toBeGreaterThan(last.getTime());
        if (windowMs === null) {
          expect(window.closesAt).toBeNull();
        } else {
          expect(window.closesAt!.getTime() - window.opensAt.getTime()).toBe(windowMs);
          expect(window.closesAt!.getTime()).toBeGreaterThan(now.getTime()); // never a window in the past
          expect(windowMissed(window, now)).toBe(false);
        }
      }),
      { seed: 1801, numRuns: 120 },
    );
  });

  it("a start lies inside its window (in its first 90 %), not before now, and every replica computes the same", () => {
    fc.assert(
      fc.property(scenario, ({ policy, last, now, key }) => {
        const plan = nextRotationPlan(policy, last, now, key);
        expect(nextRotationPlan(policy, last, now, key)).toEqual(plan);
        if (plan.closesAt === null) {
          expect(plan.startAt).toEqual(plan.opensAt);
          return;
        }
        expect(plan.startAt.getTime()).toBeGreaterThanOrEqual(Math.max(plan.opensAt.getTime(), now.getTime()));
        expect(plan.startAt.getTime()).toBeLessThan(plan.closesAt.getTime());
        const latest = plan.opensAt.getTime() + (plan.closesAt.getTime() - plan.opensAt.getTime()) * START_SPREAD_FRACTION;
        if (now <= plan.opensAt) expect(plan.startAt.getTime()).toBeLessThanOrEqual(Math.ceil(latest / 1000) * 1000);
      }),
      { seed: 1802, numRuns: 120 },
    );
  });

  it("repeated ticks at arbitrary times, with downtimes, never rotate a secret twice in one window nor outside one", () => {
    const ticks = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 * 60_000 }), fc.integer({ min: HOUR, max: 30 * DAY })), { minLength: 20, maxLength: 120 });
    fc.assert(
      fc.property(scenario, ticks, ({ policy, last, key }, steps) => {
        // The scheduler's decision per tick, as rotation-scheduler.ts makes it from the stored plan.
        let plan: RotationPlan = nextRotationPlan(policy, last, last, key);
        let lastRotation = last;
        let now = last;
        const rotations: { at: Date; window: RotationPlan }[] = [];
        for (const step of steps) {
          now = new Date(now.getTime() + step);
          if (windowMissed(plan, now)) {
            plan = nextRotationPlan(policy, lastRotation, now, key);
          } else if (plan.startAt <= now) {
            rotations.push({ at: now, window: plan });
            lastRotation = now;
            plan = nextRotationPlan(policy, now, now, key);
          }
        }
        const openings = rotations.map((r) => r.window.opensAt.getTime());
        expect(new Set(openings).size).toBe(openings.length);
        for (const { at, window } of rotations) {
          expect(at.getTime()).toBeGreaterThanOrEqual(window.opensAt.getTime());
          if (window.closesAt) expect(at.getTime()).toBeLessThan(window.closesAt.getTime());
          // each window opens at a scheduled time
          expect(cronerNextRun(policy.schedule!, policy.timezone!, new Date(window.opensAt.getTime() - 1000))).toEqual(window.opensAt);
        }
        for (let i = 1; i < rotations.length; i++) expect(rotations[i]!.window.opensAt.getTime()).toBeGreaterThan(rotations[i - 1]!.at.getTime());
      }),
      { seed: 1803, numRuns: 100 },
    );
  });

  it("starts are spread across the window, not bunched at its opening", () => {
    const policy = scheduled("0 3 * * SAT", "Europe/Berlin", 3 * 3600);
    const now = new Date("2026-05-01T00:00:00Z");
    const starts = Array.from({ length: 1000 }, (_, i) => nextRotationPlan(policy, now, now, `secret:${i}`));
    const opensAt = starts[0]!.opensAt.getTime();
    expect(starts[0]!.opensAt.toISOString()).toBe("2026-05-02T01:00:00.000Z");
    const offsets = starts.map((p) => (p.startAt.getTime() - opensAt) / (3 * HOUR));
    // ten equal slices of the first 90 %: each holds roughly a tenth
    const slices = Array.from({ length: 9 }, (_, k) => offsets.filter((o) => o >= k * 0.1 && o < (k + 1) * 0.1).length);
    expect(Math.min(...slices)).toBeGreaterThan(70);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(0.9);
    expect(offsets.filter((o) => o === 0).length).toBeLessThan(5);
  });
});

describe("daylight-saving changes: exactly one rotation per scheduled day", () => {
  /** Ticks every 5 minutes through a day and returns the times a secret on `policy` rotates. */
  function rotationsOver(policy: RotationTiming, fromIso: string, hours: number): Date[] {
    const start = new Date(fromIso);
    let plan = nextRotationPlan(policy, start, start, "secret:dst");
    const rotations: Date[] = [];
    for (let t = start.getTime(); t <= start.getTime() + hours * HOUR; t += 5 * 60_000) {
      const now = new Date(t);
      if (windowMissed(plan, now)) plan = nextRotationPlan(policy, now, now, "secret:dst");
      else if (plan.startAt <= now) {
        rotations.push(now);
        plan = nextRotationPlan(policy, now, now, "secret:dst");
      }
    }
    return rotations;
  }

  const localDate = (d: Date, zone: string) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);

  it.each([
    // spring forward: 02:30 does not exist that night; croner runs it once, at the first valid time after the gap
    { zone: "Europe/Berlin", schedule: "30 2 * * *", day: "2026-03-29", opens: "2026-03-29T01:00:00.000Z" },
    { zone: "America/New_York", schedule: "30 2 * * *", day: "2026-03-08", opens: "2026-03-08T07:00:00.000Z" },
    // fall back: New York lives 01:30 twice, Berlin 02:30; each runs once, at the first
    { zone: "America/New_York", schedule: "30 1 * * *", day: "2026-11-01", opens: "2026-11-01T05:30:00.000Z" },
    { zone: "Europe/Berlin", schedule: "30 2 * * *", day: "2026-10-25", opens: "2026-10-25T00:30:00.000Z" },
    { zone: "Europe/Berlin", schedule: "30 1 * * *", day: "2026-10-25", opens: "2026-10-24T23:30:00.000Z" },
  ])("$schedule in $zone on $day", ({ zone, schedule, day, opens }) => {
    for (const windowSeconds of [null, 3600]) {
      const policy = scheduled(schedule, zone, windowSeconds);
      const rotations = rotationsOver(policy, new Date(Date.parse(`${day}T00:00:00Z`) - 12 * HOUR).toISOString(), 48).filter((d) => localDate(d, zone) === day);
      expect(rotations).toHaveLength(1);
      const window = nextRotationWindow(policy, new Date(Date.parse(opens) - 1000), new Date(Date.parse(opens) - 1000));
      expect(window.opensAt.toISOString()).toBe(opens);
      expect(rotations[0]!.getTime()).toBeGreaterThanOrEqual(Date.parse(opens));
      if (windowSeconds) expect(rotations[0]!.getTime()).toBeLessThan(Date.parse(opens) + windowSeconds * 1000);
    }
  });

  it("next_windows lists the three openings around a change in local time", () => {
    const policy = scheduled("30 2 * * *", "Europe/Berlin", null);
    expect(nextWindowOpenings(policy, new Date("2026-03-28T12:00:00Z")).map((d) => d.toISOString())).toEqual([
      "2026-03-29T01:00:00.000Z",
      "2026-03-30T00:30:00.000Z",
      "2026-03-31T00:30:00.000Z",
    ]);
  });
});

describe("interval policies, through the same functions", () => {
  const interval: RotationTiming = { intervalSeconds: 90 * 86400, schedule: null, timezone: null, rotationWindowSeconds: null };
  it("next = last + interval, with no window, even when overdue (one rotation on recovery)", () => {
    const last = new Date("2026-01-01T00:00:00Z");
    const plan = nextRotationPlan(interval, last, new Date("2026-12-01T00:00:00Z"), "secret:1");
    expect(plan).toEqual({ opensAt: new Date("2026-04-01T00:00:00Z"), closesAt: null, startAt: new Date("2026-04-01T00:00:00Z") });
    expect(nextWindowOpenings(interval, last)).toEqual([]);
  });
  it("resuming after a pause keeps an interval's phase and takes a schedule's next window", () => {
    const now = new Date("2026-01-10T12:00:00Z");
    const daily: RotationTiming = { intervalSeconds: 86400, schedule: null, timezone: null, rotationWindowSeconds: null };
    expect(resumeAfterPause(daily, new Date("2026-01-02T00:00:00Z"), now, "k").startAt).toEqual(new Date("2026-01-11T00:00:00Z"));
    const plan = resumeAfterPause(scheduled("0 3 * * *", "UTC", 7200), new Date("2026-01-02T03:00:00Z"), now, "k");
    expect(plan.opensAt).toEqual(new Date("2026-01-11T03:00:00Z"));
  });
  it("a failed attempt is retried inside the window, and gives up for the next window when the retry would fall outside it", () => {
    const policy = scheduled("0 3 * * *", "UTC", 3600);
    const window = { opensAt: new Date("2026-01-10T03:00:00Z"), closesAt: new Date("2026-01-10T04:00:00Z") };
    expect(afterFailedAttempt(1, policy, window, new Date("2026-01-10T03:10:00Z"), "k")).toEqual({ giveUp: false, retryAt: new Date("2026-01-10T03:15:00Z") });
    const late = afterFailedAttempt(2, policy, window, new Date("2026-01-10T03:40:00Z"), "k");
    expect(late.giveUp).toBe(true);
    if (late.giveUp) expect(late.nextCycle.opensAt).toEqual(new Date("2026-01-11T03:00:00Z"));
  });
});

describe("validating schedules and zones", () => {
  const now = new Date("2026-05-01T00:00:00Z");
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return err instanceof ScaiVaultError ? [err.code, err.message] : ["not a ScaiVaultError", String(err)];
    }
    return ["accepted"];
  };
  it("accepts 5-field expressions and IANA zones, canonically spelled", () => {
    expect(validateSchedule(" 0  3 * * SAT ", "europe/berlin", now)).toEqual({ schedule: "0 3 * * SAT", timezone: "Europe/Berlin", minGapSeconds: 7 * 86400 - 3600 }); // the week with the spring-forward night is an hour short
    expect(validateSchedule("@daily", undefined, now).timezone).toBe("UTC");
    expect(canonicalZone("")).toBe("UTC");
  });
  it.each([
    ["* * * * *", "more often than every hour"],
    ["*/30 * * * *", "more often than every hour"],
    ["0,30 3 * * *", "more often than every hour"],
    ["0 3 * * * *", "5-field"],
    ["61 3 * * *", "5-field"],
    ["banana", "5-field"],
    ["0 0 30 2 *", "never fires"],
  ])("refuses %s", (expr, words) => {
    const [code, message] = refusal(() => validateSchedule(expr, "UTC", now));
    expect(code).toBe("invalid_request");
    expect(message).toContain("schedule");
    expect(message).toContain(words);
  });
  it.each(["Mars/Olympus", "+01:00", "UTC+1", "Europe/"])("refuses the zone %s", (zone) => {
    const [code, message] = refusal(() => validateSchedule("0 3 * * *", zone, now));
    expect(code).toBe("invalid_request");
    expect(message).toContain("timezone");
  });
});
