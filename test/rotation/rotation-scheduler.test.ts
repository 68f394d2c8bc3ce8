import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import type { TestVault } from "../support/vault.js";
import { DAY, HOUR, MINUTE, corruptCurrentVersion, longToken, outbox, registerWebhook, rotationEvents, startRotationVault } from "./rotation-fixtures.js";

describe("the rotation scheduler over injected time", () => {
  const clock = createManualClock("2026-01-01T00:00:00Z");
  let tv: TestVault;
  beforeAll(async () => {
    tv = await startRotationVault(clock);
  });
  afterAll(async () => tv?.close());
  // Every test starts on the same date with no schedules left by the others, so that a tick's
  // counts are the test's own.
  beforeEach(() => clock.set("2026-01-01T00:00:00Z"));
  afterEach(async () => {
    await tv.vault.db.deleteFrom("rotation_policies").execute();
  });

  const tick = () => tv.vault.scheduler.runSchedulerTick();
  const at = (start: Date, ms: number) => new Date(start.getTime() + ms);

  it("walks a 90-day auto-generating policy with warn_before 7d,1d through two full cycles", async () => {
    const token = await longToken(tv, "walk");
    const start = clock.now();
    const created = await tv.rest("POST", "/v1/rotation/policies", {
      token,
      body: { name: "walk-90d", interval: "90d", grace_period: "48h", warn_before: "7d,1d", auto_generate: true },
    });
    expect(created.status).toBe(201);
    await tv.rest("PUT", "/v1/secrets/walk/db", { token, body: { data: { username: "svc", password: "initial" }, options: { rotation_policy_id: "rot_walk-90d" } } });

    // 181 daily ticks walk two 90-day cycles on the injected clock; nothing waits in real time
    // (were anything to sleep through a day, the test would time out). No wall-clock bound: that
    // is the bench's business, and a loaded machine made it flaky.
    for (let day = 1; day <= 181; day++) {
      clock.set(at(start, day * DAY));
      await tick();
    }

    const events = (await rotationEvents(tv, "walk")).map((e) => [e.event_type, e.data.warn_before ?? null, e.created_at.toISOString().slice(0, 10)]);
    expect(events).toEqual([
      ["rotation.due", "7d", "2026-03-25"],
      ["rotation.due", "1d", "2026-03-31"],
      ["rotation.completed", null, "2026-04-01"],
      ["rotation.due", "7d", "2026-06-23"],
      ["rotation.due", "1d", "2026-06-29"],
      ["rotation.completed", null, "2026-06-30"],
    ]);
    const warning = (await rotationEvents(tv, "walk"))[0]!;
    expect(warning).toMatchObject({ path: "walk/db", policy_id: "rot_walk-90d" });
    expect(warning.data).toEqual({ policy_id: "rot_walk-90d", policy_name: "walk-90d", next_rotation_at: "2026-04-01T00:00:00Z", due_now: false, warn_before: "7d" });

    const history = await tv.rest("GET", "/v1/rotation/policies/rot_walk-90d/history", { token });
    expect(history.body.data.map((i: any) => [i.status, i.old_version, i.new_version, i.rotated_by, i.rotated_at])).toEqual([
      ["success", 2, 3, "system:rotation-scheduler", "2026-06-30T00:00:00Z"],
      ["success", 1, 2, "system:rotation-scheduler", "2026-04-01T00:00:00Z"],
    ]);
    const current = await tv.rest("GET", "/v1/secrets/walk/db", { token });
    expect(current.body).toMatchObject({ version: 3, data: { username: "svc" } });
    expect(current.body.data.password).toMatch(/^[A-Za-z0-9]{32}$/);
    // the previous version stays readable for the 48h grace period, then it is gone
    expect((await tv.rest("GET", "/v1/secrets/walk/db?version=2", { token })).status).toBe(200);
    clock.set(at(start, 182 * DAY + HOUR));
    expect((await tv.rest("GET", "/v1/secrets/walk/db?version=2", { token })).body.error.code).toBe("version_not_found");
    const meta = await tv.rest("GET", "/v1/secrets/metadata/walk/db", { token });
    expect(meta.body.rotation_policy).toEqual({ id: "rot_walk-90d", next_rotation: "2026-09-28T00:00:00Z" });
  });

  it("runs the guide's event-driven OAuth flow end to end, the test playing the webhook handler", async () => {
    const token = await longToken(tv, "oauth");
    const start = clock.now();
    // 1. create the policy
    const policy = await tv.rest("POST", "/v1/rotation/policies", {
      token,
      body: { name: "oauth-90d", interval: "90d", grace_period: "48h", warn_before: "7d,1d", auto_generate: false },
    });
    expect(policy.status).toBe(201);
    // 2. register the webhook (on loopback here) and 3. attach it to the policy
    const hook = await registerWebhook(tv, token, "oauth-rotation-handler");
    expect(hook.id).toBe("wh_oauth-rotation-handler");
    const patched = await tv.rest("PATCH", "/v1/rotation/policies/rot_oauth-90d", { token, body: { webhook_ids: ["wh_oauth-rotation-handler"] } });
    expect(patched.body.webhook_ids).toEqual(["wh_oauth-rotation-handler"]);
    // 4. attach the secret
    await tv.rest("PUT", "/v1/secrets/integrations/salesforce/oauth", { token, body: { data: { client_id: "3MVG9", client_secret: "first" }, secret_type: "json" } });
    const assigned = await tv.rest("POST", "/v1/rotation/policies/rot_oauth-90d/secrets", { token, body: { secret_path: "integrations/salesforce/oauth" } });
    expect(assigned.status).toBe(201);

    // 5. the handler: acts on due_now events only, writes the new credential back over REST
    let seen = (await outbox(tv, "oauth")).at(-1)?.seq ?? 0;
    const received: Record<string, any>[] = [];
    const handleWebhooks = async () => {
      for (const event of await outbox(tv, "oauth", seen)) {
        seen = event.seq;
        if (event.event_type !== "rotation.due") continue;
        received.push(event.data);
        if (!event.data.due_now) continue; // a 7d or 1d warning: just log it
        const res = await tv.rest("PUT", `/v1/secrets/${event.path}`, { token, body: { data: { client_id: "3MVG9", client_secret: `rotated-${received.length}` }, secret_type: "json" } });
        expect(res.status).toBe(200);
      }
    };

    for (const [offset, expected] of [
      [82 * DAY, []],
      [83 * DAY, [{ due_now: false, warn_before: "7d" }]],
      [84 * DAY, []],
      [89 * DAY, [{ due_now: false, warn_before: "1d" }]],
      [90 * DAY - MINUTE, []],
      [90 * DAY, [{ due_now: true }]],
    ] as const) {
      clock.set(at(start, offset));
      const before = received.length;
      await tick();
      // before the handler writes back, the item is pending and further ticks announce nothing again
      if (offset === 90 * DAY) {
        const pending = await tv.rest("GET", "/v1/rotation/policies/rot_oauth-90d/history?status=pending", { token });
        expect(pending.body.data).toHaveLength(1);
        expect(pending.body.data[0]).toMatchObject({ status: "pending", old_version: 1, rotated_by: "system:rotation-scheduler" });
        clock.set(at(start, 90 * DAY + HOUR));
        expect((await tick()).claimed).toBe(0);
        clock.set(at(start, 90 * DAY));
      }
      await handleWebhooks();
      expect(received.slice(before).map((d) => ({ due_now: d.due_now, ...(d.warn_before ? { warn_before: d.warn_before } : {}) }))).toEqual(expected);
    }
    expect(received.at(-1)).toEqual({ policy_id: "rot_oauth-90d", policy_name: "oauth-90d", next_rotation_at: "2026-04-01T00:00:00Z", due_now: true });

    // ScaiVault records: success with the old and new versions, and the schedule restarts from the write
    const history = await tv.rest("GET", "/v1/rotation/policies/rot_oauth-90d/history", { token });
    expect(history.body.data).toHaveLength(1);
    expect(history.body.data[0]).toMatchObject({ status: "success", old_version: 1, new_version: 2, rotated_by: "tester", secret_path: "integrations/salesforce/oauth" });
    const due = await tv.rest("GET", "/v1/rotation/due?within_hours=2200", { token });
    expect(due.body.secrets).toEqual([expect.objectContaining({ path: "integrations/salesforce/oauth", next_rotation_at: "2026-06-30T00:00:00Z", is_overdue: false })]);
    expect((await tv.rest("GET", "/v1/secrets/integrations/salesforce/oauth", { token })).body.data.client_secret).toBe("rotated-3");

    // every rotation event carries the policy, so the webhook attached to it receives it
    const all = await rotationEvents(tv, "oauth");
    expect(all).toHaveLength(3);
    expect(all.every((e) => e.policy_id === "rot_oauth-90d" && e.path === "integrations/salesforce/oauth")).toBe(true);
    expect(JSON.stringify(all)).not.toContain("rotated-");
  });

  it("sends only the nearest warning when thresholds were crossed together, and no warning once overdue", async () => {
    const token = await longToken(tv, "collapse");
    const start = clock.now();
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "late", interval: "30d", warn_before: "7d,1d" } });
    await tv.rest("PUT", "/v1/secrets/late/one", { token, body: { data: { a: 1 }, options: { rotation_policy_id: "rot_late" } } });
    await tv.rest("PUT", "/v1/secrets/late/two", { token, body: { data: { a: 1 }, options: { rotation_policy_id: "rot_late" } } });
    clock.set(at(start, 29 * DAY + HOUR)); // both thresholds passed while "down"
    await tick();
    expect((await rotationEvents(tv, "collapse")).map((e) => [e.path, e.data.warn_before]).sort()).toEqual([
      ["late/one", "1d"],
      ["late/two", "1d"],
    ]);
    await tick();
    clock.set(at(start, 40 * DAY));
    await tick();
    expect((await rotationEvents(tv, "collapse")).slice(2).map((e) => [e.path, e.data.due_now]).sort()).toEqual([
      ["late/one", true],
      ["late/two", true],
    ]);
  });

  it("skips disabled policies; on enable, missed rotations are not queued (the schedule keeps its phase)", async () => {
    const token = await longToken(tv, "paused");
    const start = clock.now();
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } });
    for (const name of ["a", "b", "c"]) {
      await tv.rest("PUT", `/v1/secrets/paused/${name}`, { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_daily" } } });
    }
    await tv.rest("POST", "/v1/rotation/policies/rot_daily/disable", { token });
    for (let h = 6; h <= 84; h += 6) {
      clock.set(at(start, h * HOUR));
      expect((await tick()).claimed).toBe(0);
    }
    expect(await rotationEvents(tv, "paused")).toEqual([]);
    expect((await tv.rest("GET", "/v1/rotation/due?policy_id=rot_daily", { token })).body.secrets).toEqual([]);

    const enabled = await tv.rest("POST", "/v1/rotation/policies/rot_daily/enable", { token });
    expect(enabled.body.is_active).toBe(true);
    const due = await tv.rest("GET", "/v1/rotation/due?policy_id=rot_daily", { token });
    expect(due.body.secrets.map((s: any) => [s.next_rotation_at, s.is_overdue])).toEqual([
      ["2026-01-05T00:00:00Z", false],
      ["2026-01-05T00:00:00Z", false],
      ["2026-01-05T00:00:00Z", false],
    ]);
    expect((await tick()).rotated).toBe(0);
    clock.set(at(start, 96 * HOUR));
    expect((await tick()).rotated).toBe(3);
    for (const name of ["a", "b", "c"]) expect((await tv.rest("GET", `/v1/secrets/paused/${name}`, { token })).body.version).toBe(2);
  });

  it("rotates once on recovery after a downtime spanning many intervals", async () => {
    const token = await longToken(tv, "down");
    const start = clock.now();
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } });
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "announce", interval: "24h", auto_generate: false } });
    await tv.rest("PUT", "/v1/secrets/down/gen", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_daily" } } });
    await tv.rest("PUT", "/v1/secrets/down/event", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_announce" } } });
    clock.set(at(start, 10 * DAY + 5 * HOUR));
    const first = await tick();
    expect(first).toMatchObject({ rotated: 1, announced: 1, errors: 0 });
    expect((await tick()).claimed).toBe(0);
    clock.advance(HOUR);
    expect((await tick()).claimed).toBe(0);
    expect((await tv.rest("GET", "/v1/secrets/down/gen", { token })).body.version).toBe(2);
    expect((await rotationEvents(tv, "down")).map((e) => e.event_type).sort()).toEqual(["rotation.completed", "rotation.due"]);
    const meta = await tv.rest("GET", "/v1/secrets/metadata/down/gen", { token });
    expect(meta.body.rotation_policy.next_rotation).toBe("2026-01-12T05:00:00Z");
  });

  it("retries a failed generated rotation with backoff, three attempts, then waits for the next cycle", async () => {
    const token = await longToken(tv, "broken");
    const start = clock.now();
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } });
    await tv.rest("PUT", "/v1/secrets/broken/db", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_daily" } } });
    await corruptCurrentVersion(tv, "broken", "broken/db");

    clock.set(at(start, DAY));
    expect((await tick()).failed).toBe(1);
    expect((await tick()).claimed).toBe(0); // waiting for the retry
    clock.advance(5 * MINUTE);
    expect((await tick()).failed).toBe(1);
    clock.advance(29 * MINUTE);
    expect((await tick()).claimed).toBe(0);
    clock.advance(MINUTE);
    expect((await tick()).failed).toBe(1);
    clock.advance(12 * HOUR);
    expect((await tick()).claimed).toBe(0); // gave up until the next cycle

    const failures = (await rotationEvents(tv, "broken")).filter((e) => e.event_type === "rotation.failed").map((e) => e.data);
    expect(failures.map((d) => [d.attempt, d.will_retry, d.next_attempt_at])).toEqual([
      [1, true, "2026-01-02T00:05:00Z"],
      [2, true, "2026-01-02T00:35:00Z"],
      [3, false, "2026-01-03T00:35:00Z"],
    ]);
    expect(failures[0]).toMatchObject({ policy_id: "rot_daily", policy_name: "daily", error: "the current version could not be decrypted" });
    const failed = await tv.rest("GET", "/v1/rotation/policies/rot_daily/history?status=failed", { token });
    expect(failed.body.data).toHaveLength(3);
    expect(failed.body.data[0]).toMatchObject({ status: "failed", old_version: 1, error: "the current version could not be decrypted", rotated_by: "system:rotation-scheduler" });

    // an operator repairs the secret; the next cycle rotates it
    await tv.rest("PUT", "/v1/secrets/broken/db", { token, body: { data: { password: "repaired" } } });
    clock.set(at(start, 2 * DAY + 35 * MINUTE));
    expect((await tick()).rotated).toBe(1);
    expect((await tv.rest("GET", "/v1/secrets/broken/db", { token })).body.version).toBe(3);
  });

  it("fences a stale worker: its commit is refused after another worker rotated, and only one version is written", async () => {
    const token = await longToken(tv, "fence");
    const start = clock.now();
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } });
    await tv.rest("PUT", "/v1/secrets/fence/db", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_daily" } } });
    clock.set(at(start, DAY));
    const scheduler = tv.vault.scheduler;

    // worker A claims, then stalls past its lease
    const stale = await scheduler.claimDue();
    expect(stale.map((c) => c.path)).toEqual(["fence/db"]);
    expect((await tick()).claimed).toBe(0); // the claim keeps other workers away meanwhile
    clock.advance(10 * MINUTE);
    // worker B finds the lease over and rotates
    expect((await tick()).rotated).toBe(1);
    // worker A wakes up and tries to commit
    expect(await scheduler.processClaim(stale[0]!)).toBe("stale");
    expect(scheduler.totals().stale).toBeGreaterThanOrEqual(1);
    expect(tv.logs.some((l) => l.includes("stale rotation claim refused") && l.includes("fence/db"))).toBe(true);

    const versions = await tv.rest("GET", "/v1/secrets/fence/db/versions", { token });
    expect(versions.body.versions.map((v: any) => v.version)).toEqual([2, 1]);
    const history = await tv.rest("GET", "/v1/rotation/policies/rot_daily/history", { token });
    expect(history.body.data).toHaveLength(1);
    expect((await rotationEvents(tv, "fence")).map((e) => e.event_type)).toEqual(["rotation.completed"]);
  });

  it("fences on the secret's version too: a write between claim and commit refuses the claim", async () => {
    const token = await longToken(tv, "fence2");
    const start = clock.now();
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } });
    await tv.rest("PUT", "/v1/secrets/fence2/db", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_daily" } } });
    clock.set(at(start, DAY));
    const [claim] = await tv.vault.scheduler.claimDue();
    await tv.rest("PUT", "/v1/secrets/fence2/db", { token, body: { data: { password: "written meanwhile" } } });
    expect(await tv.vault.scheduler.processClaim(claim!)).toBe("stale");
    expect((await tv.rest("GET", "/v1/secrets/fence2/db", { token })).body).toMatchObject({ version: 2, data: { password: "written meanwhile" } });
    clock.advance(10 * MINUTE);
    expect((await tick()).rotated).toBe(1);
    expect((await tv.rest("GET", "/v1/secrets/fence2/db", { token })).body.version).toBe(3);
  });

  it("restarts schedules when the interval changes: next = last rotation (or assignment) + the new interval", async () => {
    const token = await longToken(tv, "resched");
    const start = clock.now();
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "p", interval: "90d", warn_before: "7d" } });
    await tv.rest("PUT", "/v1/secrets/resched/x", { token, body: { data: { a: 1 }, options: { rotation_policy_id: "rot_p" } } });
    const shorter = await tv.rest("PATCH", "/v1/rotation/policies/rot_p", { token, body: { interval: "30d" } });
    expect(shorter.body).toMatchObject({ interval: "30d", interval_seconds: 2592000, warn_before: "7d" });
    const next = async () => (await tv.rest("GET", "/v1/secrets/metadata/resched/x", { token })).body.rotation_policy.next_rotation;
    expect(await next()).toBe("2026-01-31T00:00:00Z");
    clock.set(at(start, 10 * DAY));
    await tv.rest("POST", "/v1/secrets/resched/x/rotate", { token, body: { reason: "manual", new_value: { a: 2 } } });
    expect(await next()).toBe("2026-02-10T00:00:00Z");
    await tv.rest("PATCH", "/v1/rotation/policies/rot_p", { token, body: { interval: "60d" } });
    expect(await next()).toBe("2026-03-12T00:00:00Z");
    const tooShort = await tv.rest("PATCH", "/v1/rotation/policies/rot_p", { token, body: { interval: "5d" } });
    expect(tooShort.body.error.code).toBe("invalid_duration");
  });
});
