import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RotationService } from "../../gen/scaivault/v1/rotation_pb.js";
import { createManualClock } from "../../src/clock.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import type { TestVault } from "../support/vault.js";
import { DAY, HOUR, MINUTE, longToken, rotationEvents, startRotationVault } from "./rotation-fixtures.js";

describe("cron schedules, time zones and rotation windows on rotation policies", () => {
  const clock = createManualClock("2026-03-02T00:00:00Z");
  let tv: TestVault;
  let rotation: any;
  beforeAll(async () => {
    tv = await startRotationVault(clock);
    rotation = grpcClient(tv.port, "RotationService", "rotation.proto");
  });
  afterAll(async () => {
    rotation?.close();
    await tv?.close();
  });
  beforeEach(() => clock.set("2026-03-02T00:00:00Z"));
  afterEach(async () => {
    await tv.vault.db.deleteFrom("rotation_policies").execute();
  });

  const tick = () => tv.vault.scheduler.runSchedulerTick();
  /**
   * tv.rest, tried once more when a kept-alive connection was reset: after a long run of ticks
   * without HTTP the server may close an idle socket just as the client reuses it (a race that a
   * loaded machine widens); the request then never reached the server.
   */
  async function rest(...args: Parameters<TestVault["rest"]>): ReturnType<TestVault["rest"]> {
    try {
      return await tv.rest(...args);
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code !== "ECONNRESET") throw err;
      return tv.rest(...args);
    }
  }
  /** Ticks every `stepMs` from now until `untilIso`, as a running scheduler would. */
  async function tickUntil(untilIso: string, stepMs: number) {
    const until = Date.parse(untilIso);
    for (let t = clock.now().getTime(); t <= until; t += stepMs) {
      clock.set(new Date(t));
      await tick();
    }
  }
  async function history(token: string, policyId: string) {
    const res = await rest("GET", `/v1/rotation/policies/${policyId}/history?limit=200`, { token });
    expect(res.status).toBe(200);
    return res.body.data as any[];
  }
  const localDate = (iso: string, zone: string) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));

  it("creates, shows and updates a scheduled policy over REST, gRPC, Connect and gRPC-web alike", async () => {
    const token = await longToken(tv, "api");
    const created = await rest("POST", "/v1/rotation/policies", {
      token,
      body: { name: "saturdays", schedule: "0 3 * * SAT", timezone: "Europe/Berlin", rotation_window: "3h", warn_before: "1d", auto_generate: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: "rot_saturdays",
      interval: null,
      interval_seconds: null,
      schedule: "0 3 * * SAT",
      timezone: "Europe/Berlin",
      rotation_window: "3h",
      warn_before: "1d",
      // 03:00 in Berlin: CET before the night of 29 March, CEST after it
      next_windows: ["2026-03-07T02:00:00Z", "2026-03-14T02:00:00Z", "2026-03-21T02:00:00Z"],
    });

    const viaGrpc = await unary(rotation, "GetRotationPolicy", { id: "rot_saturdays" }, token);
    expect(viaGrpc).toMatchObject({ schedule: "0 3 * * SAT", timezone: "Europe/Berlin", rotation_window: "3h" });
    expect(viaGrpc.next_windows.map((t: any) => new Date(Number(t.seconds) * 1000).toISOString())).toEqual([
      "2026-03-07T02:00:00.000Z",
      "2026-03-14T02:00:00.000Z",
      "2026-03-21T02:00:00.000Z",
    ]);
    const headers = { authorization: `Bearer ${token}` };
    for (const transport of [createConnectTransport({ baseUrl: tv.baseUrl, httpVersion: "1.1" }), createGrpcWebTransport({ baseUrl: tv.baseUrl, httpVersion: "1.1" })]) {
      const client = createClient(RotationService, transport);
      const policy = await client.getRotationPolicy({ id: "rot_saturdays" }, { headers });
      expect([policy.schedule, policy.timezone, policy.rotationWindow, policy.interval, policy.nextWindows.length]).toEqual(["0 3 * * SAT", "Europe/Berlin", "3h", undefined, 3]);
    }

    // a PATCH keeps the kind; giving interval switches to it (zone and window go), schedule switches back
    const zoned = await rest("PATCH", "/v1/rotation/policies/rot_saturdays", { token, body: { timezone: "America/New_York" } });
    expect(zoned.body).toMatchObject({ schedule: "0 3 * * SAT", timezone: "America/New_York", rotation_window: "3h", next_windows: ["2026-03-07T08:00:00Z", "2026-03-14T07:00:00Z", "2026-03-21T07:00:00Z"] });
    const toInterval = await rest("PATCH", "/v1/rotation/policies/rot_saturdays", { token, body: { interval: "7d" } });
    expect(toInterval.body).toMatchObject({ interval: "7d", interval_seconds: 604800, next_windows: [] });
    expect(toInterval.body).not.toHaveProperty("schedule");
    expect(toInterval.body).not.toHaveProperty("rotation_window");
    const back = await rest("PATCH", "/v1/rotation/policies/rot_saturdays", { token, body: { schedule: "30 4 1 * *", rotation_window: "6h" } });
    expect(back.body).toMatchObject({ interval: null, schedule: "30 4 1 * *", timezone: "UTC", rotation_window: "6h", next_windows: ["2026-04-01T04:30:00Z", "2026-05-01T04:30:00Z", "2026-06-01T04:30:00Z"] });
    const unwindowed = await rest("PATCH", "/v1/rotation/policies/rot_saturdays", { token, body: { rotation_window: "" } });
    expect(unwindowed.body).not.toHaveProperty("rotation_window");
    expect((await rest("GET", "/v1/rotation/policies", { token })).body.data[0]).toMatchObject({ schedule: "30 4 1 * *", next_windows: ["2026-04-01T04:30:00Z", "2026-05-01T04:30:00Z", "2026-06-01T04:30:00Z"] });
  });

  it("refuses bad schedules, zones and windows with the contract's codes, naming the field, over REST and gRPC", async () => {
    const token = await longToken(tv, "bad");
    const cases: [Record<string, unknown>, string, string][] = [
      [{ schedule: "0 3 * * SAT", interval: "7d" }, "invalid_request", "interval or schedule"],
      [{}, "invalid_request", "interval or schedule is required"],
      [{ schedule: "every saturday" }, "invalid_request", "schedule"],
      [{ schedule: "0 3 * * * *" }, "invalid_request", "schedule"],
      [{ schedule: "*/15 * * * *" }, "invalid_request", "more often than every hour"],
      [{ schedule: "0,30 * * * *" }, "invalid_request", "more often than every hour"],
      [{ schedule: "0 3 * * SAT", timezone: "Europe/Atlantis" }, "invalid_request", "timezone"],
      [{ schedule: "0 3 * * SAT", timezone: "+02:00" }, "invalid_request", "timezone"],
      [{ interval: "7d", timezone: "Europe/Berlin" }, "invalid_request", "timezone is only allowed with schedule"],
      [{ interval: "7d", rotation_window: "2h" }, "invalid_request", "rotation_window is only allowed with schedule"],
      [{ schedule: "0 3 * * SAT", rotation_window: "30m" }, "invalid_duration", "rotation_window must be at least 1h"],
      [{ schedule: "0 3 * * SAT", rotation_window: "soon" }, "invalid_duration", "rotation_window"],
      [{ schedule: "0 3 * * *", rotation_window: "25h" }, "invalid_duration", "rotation_window must not be longer"],
      [{ schedule: "0 3 * * *", warn_before: "2d" }, "invalid_duration", "warn_before"],
    ];
    for (const [body, code, words] of cases) {
      const res = await rest("POST", "/v1/rotation/policies", { token, body: { name: "bad", ...body } });
      expect([res.status, res.body.error?.code], JSON.stringify(body)).toEqual([400, code]);
      expect(res.body.error.message, JSON.stringify(body)).toContain(words);
    }
    for (const [body, code] of cases.slice(2, 8)) {
      const err = await unary(rotation, "CreateRotationPolicy", { name: "bad", ...body }, token).then(
        () => undefined,
        (e) => e,
      );
      expect([err?.code, reasonOf(err)], JSON.stringify(body)).toEqual([3, code]);
    }
    expect((await rest("GET", "/v1/rotation/policies", { token })).body.data).toEqual([]);
    // a failed PATCH changes nothing
    await rest("POST", "/v1/rotation/policies", { token, body: { name: "ok", schedule: "0 3 * * *" } });
    const patched = await rest("PATCH", "/v1/rotation/policies/rot_ok", { token, body: { schedule: "* * * * *" } });
    expect(patched.body.error.code).toBe("invalid_request");
    expect((await rest("GET", "/v1/rotation/policies/rot_ok", { token })).body.schedule).toBe("0 3 * * *");
  });

  it.each([
    { zone: "Europe/Berlin", schedule: "30 2 * * *", day: "2026-03-29", opens: "2026-03-29T01:00:00Z", what: "spring forward: 02:30 does not exist" },
    { zone: "America/New_York", schedule: "30 2 * * *", day: "2026-03-08", opens: "2026-03-08T07:00:00Z", what: "spring forward: 02:30 does not exist" },
    { zone: "America/New_York", schedule: "30 1 * * *", day: "2026-11-01", opens: "2026-11-01T05:30:00Z", what: "fall back: 01:30 happens twice" },
    { zone: "Europe/Berlin", schedule: "30 1 * * *", day: "2026-10-25", opens: "2026-10-24T23:30:00Z", what: "fall back (Berlin repeats 02:xx)" },
    { zone: "Europe/Berlin", schedule: "30 2 * * *", day: "2026-10-25", opens: "2026-10-25T00:30:00Z", what: "fall back: 02:30 happens twice" },
  ])("rotates exactly once on $day in $zone with $schedule ($what)", { timeout: 300_000 }, async ({ zone, schedule, day, opens }) => {
    // a tenant per case: history outlives the policies the afterEach deletes
    const token = await longToken(tv, `dst-${zone}-${day}-${schedule}`.replace(/[^A-Za-z0-9-]/g, "-"));
    clock.set(new Date(Date.parse(`${day}T00:00:00Z`) - DAY));
    await rest("POST", "/v1/rotation/policies", { token, body: { name: "nightly", schedule, timezone: zone, rotation_window: "1h", auto_generate: true } });
    await rest("PUT", "/v1/secrets/dst/db", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_nightly" } } });
    await tickUntil(new Date(Date.parse(`${day}T00:00:00Z`) + 1.5 * DAY).toISOString(), 15 * MINUTE);

    const items = (await history(token, "rot_nightly")).filter((i) => i.status === "success");
    const onDay = items.filter((i) => localDate(i.rotated_at, zone) === day);
    expect(onDay).toHaveLength(1);
    expect(Date.parse(onDay[0].rotated_at)).toBeGreaterThanOrEqual(Date.parse(opens));
    expect(Date.parse(onDay[0].rotated_at)).toBeLessThan(Date.parse(opens) + HOUR);
    // one per local day, never two on one
    const days = items.map((i) => localDate(i.rotated_at, zone));
    expect(new Set(days).size).toBe(days.length);
  });

  it("a window missed during downtime is recorded and waits for the next window; the due list and metadata show it", { timeout: 300_000 }, async () => {
    const token = await longToken(tv, "down");
    await rest("POST", "/v1/rotation/policies", { token, body: { name: "nightly", schedule: "0 3 * * *", timezone: "UTC", rotation_window: "2h", auto_generate: true } });
    await rest("PUT", "/v1/secrets/down/db", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_nightly" } } });

    const meta = await rest("GET", "/v1/secrets/metadata/down/db", { token });
    expect(meta.body.rotation_policy).toMatchObject({ id: "rot_nightly", window_opens_at: "2026-03-02T03:00:00Z", window_closes_at: "2026-03-02T05:00:00Z" });
    const start = Date.parse(meta.body.rotation_policy.next_rotation);
    expect(start).toBeGreaterThanOrEqual(Date.parse("2026-03-02T03:00:00Z"));
    expect(start).toBeLessThan(Date.parse("2026-03-02T05:00:00Z"));
    const due = await rest("GET", "/v1/rotation/due?within_hours=4", { token });
    expect(due.body.secrets).toEqual([
      expect.objectContaining({ path: "down/db", window_opens_at: "2026-03-02T03:00:00Z", window_closes_at: "2026-03-02T05:00:00Z", is_overdue: false }),
    ]);

    // the service is down from 02:00 to 06:00: the window 03:00-05:00 passes unseen
    clock.set("2026-03-02T02:00:00Z");
    expect((await tick()).rotated).toBe(0);
    clock.set("2026-03-02T06:00:00Z");
    const recovered = await tick();
    expect([recovered.rotated, recovered.missed]).toEqual([0, 1]);
    expect((await rest("GET", "/v1/secrets/down/db", { token })).body.version).toBe(1);
    const [skipped] = await history(token, "rot_nightly");
    expect(skipped).toMatchObject({ status: "skipped", reason: "window_missed", old_version: 1, rotated_by: "system:rotation-scheduler" });
    expect(skipped.error).toContain("2026-03-02T03:00:00Z to 2026-03-02T05:00:00Z");
    expect(skipped.error).toContain("next window, opening 2026-03-03T03:00:00Z");
    expect((await rest("GET", "/v1/rotation/policies/rot_nightly/history?status=skipped", { token })).body.data).toHaveLength(1);
    const next = await rest("GET", "/v1/rotation/due?within_hours=24", { token });
    expect(next.body.secrets).toEqual([expect.objectContaining({ window_opens_at: "2026-03-03T03:00:00Z", window_closes_at: "2026-03-03T05:00:00Z" })]);
    expect((await tick()).claimed).toBe(0);

    // the next window rotates it once, inside the window
    await tickUntil("2026-03-03T06:00:00Z", 5 * MINUTE);
    const items = await history(token, "rot_nightly");
    expect(items.map((i) => i.status)).toEqual(["success", "skipped"]);
    expect(Date.parse(items[0].rotated_at)).toBeGreaterThanOrEqual(Date.parse("2026-03-03T03:00:00Z"));
    expect(Date.parse(items[0].rotated_at)).toBeLessThan(Date.parse("2026-03-03T05:00:00Z"));
    expect((await rest("GET", "/v1/secrets/down/db", { token })).body.version).toBe(2);
  });

  it("event-driven rotations honour the window: announced inside it, failed and announced again when nobody writes in time", { timeout: 300_000 }, async () => {
    const token = await longToken(tv, "events");
    await rest("POST", "/v1/rotation/policies", {
      token,
      body: { name: "weekly", schedule: "0 3 * * SAT", timezone: "Europe/Berlin", rotation_window: "3h", warn_before: "1d", auto_generate: false },
    });
    await rest("PUT", "/v1/secrets/events/oauth", { token, body: { data: { client_secret: "first" }, options: { rotation_policy_id: "rot_weekly" } } });
    // the first window opens Saturday 7 March 03:00 in Berlin = 02:00Z; the warning counts back from the opening
    clock.set("2026-03-06T01:59:00Z");
    expect((await tick()).warned).toBe(0);
    clock.set("2026-03-06T02:00:00Z");
    expect((await tick()).warned).toBe(1);
    // nothing is due in between; then a tick every 5 minutes through the window and past its close
    clock.set("2026-03-07T01:55:00Z");
    await tickUntil("2026-03-07T05:30:00Z", 5 * MINUTE);
    const events = await rotationEvents(tv, "events");
    expect(events.map((e) => [e.data.due_now, e.data.warn_before ?? null])).toEqual([
      [false, "1d"],
      [true, null],
    ]);
    expect(events[0]!.data).toMatchObject({ window_opens_at: "2026-03-07T02:00:00Z", window_closes_at: "2026-03-07T05:00:00Z" });
    const announcedAt = events[1]!.created_at.getTime();
    expect(announcedAt).toBeGreaterThanOrEqual(Date.parse("2026-03-07T02:00:00Z"));
    expect(announcedAt).toBeLessThan(Date.parse("2026-03-07T05:00:00Z"));
    // announced at the first tick after its spread start, which lies inside the window
    const plannedStart = Date.parse(events[1]!.data.next_rotation_at);
    expect(plannedStart).toBeGreaterThanOrEqual(Date.parse("2026-03-07T02:00:00Z"));
    expect(plannedStart).toBeLessThanOrEqual(announcedAt);
    expect(announcedAt - plannedStart).toBeLessThan(5 * MINUTE);

    // nobody wrote the new version inside the window: the pending item fails with the reason
    const [failed] = await history(token, "rot_weekly");
    expect(failed).toMatchObject({ status: "failed", old_version: 1 });
    expect(failed.error).toContain("no new version was written inside the rotation window 2026-03-07T02:00:00Z to 2026-03-07T05:00:00Z");
    // the next window announces again, and a write inside it completes the rotation
    clock.set("2026-03-14T01:55:00Z");
    await tickUntil("2026-03-14T04:55:00Z", 5 * MINUTE);
    const again = (await rotationEvents(tv, "events")).filter((e) => e.data.due_now);
    expect(again).toHaveLength(2);
    expect(again[1]!.data.window_opens_at).toBe("2026-03-14T02:00:00Z");
    expect((await rest("PUT", "/v1/secrets/events/oauth", { token, body: { data: { client_secret: "second" } } })).status).toBe(200);
    const items = await history(token, "rot_weekly");
    expect(items.map((i) => [i.status, i.old_version, i.new_version ?? null])).toEqual([
      ["success", 1, 2],
      ["failed", 1, null],
    ]);
    const meta = await rest("GET", "/v1/secrets/metadata/events/oauth", { token });
    expect(meta.body.rotation_policy).toMatchObject({ window_opens_at: "2026-03-21T02:00:00Z", window_closes_at: "2026-03-21T05:00:00Z" });
  });

  it("on enable, a scheduled policy skips the windows that passed while it was disabled", { timeout: 300_000 }, async () => {
    const token = await longToken(tv, "paused");
    await rest("POST", "/v1/rotation/policies", { token, body: { name: "nightly", schedule: "0 3 * * *", rotation_window: "2h", auto_generate: true } });
    await rest("PUT", "/v1/secrets/paused/db", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_nightly" } } });
    await rest("POST", "/v1/rotation/policies/rot_nightly/disable", { token });
    await tickUntil("2026-03-05T12:00:00Z", HOUR);
    await rest("POST", "/v1/rotation/policies/rot_nightly/enable", { token });
    const due = await rest("GET", "/v1/rotation/due?within_hours=48", { token });
    expect(due.body.secrets).toEqual([expect.objectContaining({ window_opens_at: "2026-03-06T03:00:00Z", is_overdue: false })]);
    expect(await history(token, "rot_nightly")).toEqual([]);
  });
});
