// A provider-rotation binding with its own schedule (no rotation policy): `interval` (or DotVault's
// `intervalDays`), or `schedule` + `timezone` + `rotation_window`, checked by the policies' rules
// and planned by the same functions. Refused input changes nothing. DotVault's provider name `aws`
// is `aws_iam`. `GET /v1/rotation/secrets?prefix=` lists only the paths under the prefix.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startFakeIam, type FakeIam } from "../support/fake-iam.js";
import type { TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { DAY, HOUR, longToken, startRotationVault } from "./rotation-fixtures.js";

const TENANT = "own-schedules";
const SECRET = "own-schedule-hook";

describe("a binding's own schedule", () => {
  const clock = createManualClock("2026-01-05T12:00:00Z");
  let tv: TestVault;
  let token: string;
  let endpoint: CredentialEndpoint;
  let iam: FakeIam;

  beforeAll(async () => {
    tv = await startRotationVault(clock);
    token = await longToken(tv, TENANT);
    endpoint = await startCredentialEndpoint({ secret: SECRET, initial: ["v0"] });
    iam = await startFakeIam();
  });
  afterAll(async () => {
    await tv?.close();
    await endpoint?.close();
    await iam?.close();
  });

  const hook = () => ({ provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials: { secret: SECRET }, grace_period: "1h" });
  const bind = (path: string, body: Record<string, unknown>) => tv.rest("PUT", `/v1/rotation/secrets/${path}`, { token, body });
  async function secretAt(path: string) {
    const put = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { api_key: "v0" } } });
    expect(put.status).toBe(201);
  }

  it("refuses bad schedules with the policies' codes and messages, and writes nothing", async () => {
    await secretAt("own/refused");
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ interval: "30d", schedule: "0 3 * * *" }, "invalid_request", /either interval or schedule/],
      [{ interval: "30m" }, "invalid_duration", /interval must be from 1h to 3650d/],
      [{ interval: "soon" }, "invalid_duration", /interval/],
      [{ timezone: "Europe/Berlin" }, "invalid_request", /timezone is only allowed with schedule/],
      [{ interval: "1d", rotation_window: "2h" }, "invalid_request", /rotation_window is only allowed with schedule/],
      [{ schedule: "0 3 * *" }, "invalid_request", /not a valid 5-field cron expression/],
      [{ schedule: "*/30 * * * *" }, "invalid_request", /more often than every hour/],
      [{ schedule: "0 3 * * *", timezone: "Mars/Olympus" }, "invalid_request", /not a known IANA time zone/],
      [{ schedule: "0 3 * * *", timezone: "+01:00" }, "invalid_request", /not an IANA time zone name/],
      [{ schedule: "0 3 * * *", rotation_window: "30m" }, "invalid_duration", /rotation_window must be at least 1h/],
      [{ schedule: "0 3 * * *", rotation_window: "25h" }, "invalid_duration", /not be longer than the time between two scheduled times \(1d/],
      [{ intervalDays: 0 }, "invalid_duration", /intervalDays must be a whole number of days from 1 to 3650/],
      [{ intervalDays: 4000 }, "invalid_duration", /intervalDays/],
      [{ intervalDays: 30, interval: "30d" }, "invalid_request", /either interval or intervalDays/],
      [{ interval: "30d", policy_id: "rot_any" }, "invalid_request", /either policy_id or a schedule/],
    ];
    for (const [extra, code, message] of cases) {
      const r = await bind("own/refused", { ...hook(), ...extra });
      expect(r.status, JSON.stringify(extra)).toBe(400);
      expect(r.body.error.code, JSON.stringify(extra)).toBe(code);
      expect(r.body.error.message, JSON.stringify(extra)).toMatch(message);
      expect(JSON.stringify(r.body)).not.toContain(SECRET);
    }
    // intervalDays must be a number of days: "30" as text is accepted by JSON's int32 reading, 1.5 is not.
    const fraction = await bind("own/refused", { ...hook(), intervalDays: 1.5 });
    expect(fraction.status).toBe(400);
    expect((await tv.rest("GET", "/v1/rotation/secrets/own/refused", { token })).status).toBe(404);

    // A refused reconfigure keeps the stored schedule and plan.
    const ok = await bind("own/refused", { ...hook(), interval: "7d" });
    expect(ok.status).toBe(201);
    const refused = await bind("own/refused", { ...hook(), schedule: "0 3 * *" });
    expect(refused.status).toBe(400);
    const kept = await tv.rest("GET", "/v1/rotation/secrets/own/refused", { token });
    expect(kept.body).toMatchObject({ interval: "7d", schedule: null, schedule_source: "binding", next_rotation_at: ok.body.next_rotation_at });
  });

  it("a binding assigned to a policy through the secret refuses a schedule of its own until detached", async () => {
    const policy = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "monthly", interval: "30d" } });
    expect(policy.status).toBe(201);
    const put = await tv.rest("PUT", "/v1/secrets/own/assigned", { token, body: { data: { api_key: "v0" }, options: { rotation_policy_id: "rot_monthly" } } });
    expect(put.status).toBe(201);
    const r = await bind("own/assigned", { ...hook(), interval: "7d" });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/assigned to rotation policy rot_monthly/);
    // Through the binding's own policy_id the switch is one call: the policy is detached.
    expect((await bind("own/assigned", { ...hook(), policy_id: "rot_monthly" })).status).toBe(201);
    const own = await bind("own/assigned", { ...hook(), interval: "7d" });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body).toMatchObject({ policy_id: null, interval: "7d", schedule_source: "binding" });
    const detached = await tv.rest("GET", "/v1/rotation/policies/rot_monthly", { token });
    expect(detached.body.secrets_count).toBe(0);
  });

  it("intervalDays is interval in days; the scheduler starts the run when it falls due, once, and plans the next", async () => {
    await secretAt("own/interval");
    const r = await bind("own/interval", { ...hook(), intervalDays: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ interval: "30d", schedule: null, timezone: null, schedule_source: "binding", policy_id: null });
    expect(r.body.next_rotation_at).toBe(new Date(clock.now().getTime() + 30 * DAY).toISOString().replace(".000Z", "Z"));

    clock.advance(30 * DAY - HOUR);
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    expect(await runsOf("own/interval")).toHaveLength(0);

    clock.advance(HOUR);
    const due = clock.now();
    const tick = await tv.vault.scheduler.runSchedulerTick(due);
    expect(tick.started).toBe(1);
    expect((await tv.vault.scheduler.runSchedulerTick(due)).started).toBe(0);
    await tv.vault.rotationRunner.runDue(due);
    const runs = await runsOf("own/interval");
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ triggered_by: "scheduled", actor: "system:rotation-scheduler", status: "waiting_grace" });
    const shown = await tv.rest("GET", "/v1/rotation/secrets/own/interval", { token });
    expect(shown.body.next_rotation_at).toBe(new Date(due.getTime() + 30 * DAY).toISOString().replace(".000Z", "Z"));
    expect((await tv.rest("GET", "/v1/secrets/own/interval", { token })).body.version).toBe(2);
  });

  it("a cron schedule in a zone is planned by croner in that zone, and a paused binding skips its occurrence", async () => {
    clock.set(new Date("2026-02-09T12:00:00Z"));
    await secretAt("own/cron");
    // 2026-02-09 is a Monday; Saturday 03:00 in Berlin (winter, UTC+1) is 02:00Z.
    const r = await bind("own/cron", { ...hook(), schedule: "0 3 * * SAT", timezone: "europe/berlin", rotation_window: "2h" });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ schedule: "0 3 * * SAT", timezone: "Europe/Berlin", rotation_window: "2h", interval: null, schedule_source: "binding" });
    const start = Date.parse(r.body.next_rotation_at);
    expect(start).toBeGreaterThanOrEqual(Date.parse("2026-02-14T02:00:00Z"));
    expect(start).toBeLessThan(Date.parse("2026-02-14T04:00:00Z"));
    expect(r.body.window_closes_at).toBe("2026-02-14T04:00:00Z");

    expect((await tv.rest("POST", "/v1/rotation/secrets/own/cron/pause", { token })).status).toBe(200);
    clock.set(new Date(start));
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    expect(await runsOf("own/cron")).toHaveLength(0);
    const resumed = await tv.rest("POST", "/v1/rotation/secrets/own/cron/resume", { token });
    // Skipped, not queued: the next occurrence is the next Saturday's.
    expect(resumed.body.window_closes_at).toBe("2026-02-21T04:00:00Z");
    clock.set(new Date(Date.parse(resumed.body.next_rotation_at) - 1000));
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    expect(await runsOf("own/cron")).toHaveLength(0);
    clock.advance(1000);
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    expect(await runsOf("own/cron")).toMatchObject([{ triggered_by: "scheduled", status: "running" }]);
  });

  it("the same schedule given again keeps the plan; a changed one replans; none clears it", async () => {
    await secretAt("own/replan");
    const first = await bind("own/replan", { ...hook(), interval: "10d" });
    clock.advance(HOUR);
    const again = await bind("own/replan", { ...hook(), interval: "10d" });
    expect(again.body.next_rotation_at).toBe(first.body.next_rotation_at);
    const changed = await bind("own/replan", { ...hook(), interval: "5d" });
    expect(changed.body.next_rotation_at).toBe(new Date(clock.now().getTime() + 5 * DAY).toISOString().replace(".000Z", "Z"));
    const cleared = await bind("own/replan", hook());
    expect(cleared.body).toMatchObject({ interval: null, schedule: null, next_rotation_at: null, schedule_source: "none" });
  });

  it("takes DotVault's provider name aws for aws_iam", async () => {
    const key = iam.seedKey("dotvault-user");
    const put = await tv.rest("PUT", "/v1/secrets/own/aws", { token, body: { data: { access_key_id: key.accessKeyId, secret_access_key: key.secretAccessKey } } });
    expect(put.status).toBe(201);
    const r = await bind("own/aws", { provider: "aws", config: { iam_user_name: "dotvault-user", region: "us-east-1", endpoint: iam.url }, intervalDays: 90 });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ provider: "aws_iam", interval: "90d" });
    const listed = await tv.rest("GET", "/v1/rotation/secrets?provider=aws", { token });
    expect(listed.body.data.map((b: { path: string }) => b.path)).toEqual(["own/aws"]);
    const unknown = await bind("own/aws", { provider: "azure" });
    expect(unknown.body.error.message).toMatch(/provider must be one of/);
  });

  it("lists only the bindings under ?prefix=, with paging inside the prefix", async () => {
    for (const path of ["pfx/a/one", "pfx/a/two", "pfx/a/three", "pfx/b/one", "pfx/a_x/one", "pfx-x/one"]) {
      await secretAt(path);
      expect((await bind(path, hook())).status).toBe(201);
    }
    const paths = async (query: string) => {
      const out: string[] = [];
      let cursor: string | undefined;
      do {
        const r = await tv.rest("GET", `/v1/rotation/secrets?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        out.push(...r.body.data.map((b: { path: string }) => b.path));
        cursor = r.body.has_more ? r.body.cursor : undefined;
      } while (cursor);
      return out;
    };
    expect(await paths("prefix=pfx/a/&limit=2")).toEqual(["pfx/a/one", "pfx/a/three", "pfx/a/two"]);
    expect(await paths("prefix=pfx/b")).toEqual(["pfx/b/one"]);
    // The prefix's characters mean themselves: _ is not a wildcard.
    expect(await paths("prefix=pfx/a_")).toEqual(["pfx/a_x/one"]);
    expect(await paths("prefix=pfx")).toHaveLength(6);
    expect(await paths("prefix=nothing/")).toEqual([]);
    expect((await paths("prefix=pfx/")).length).toBe(5);
  });

  async function runsOf(path: string) {
    const r = await tv.rest("GET", `/v1/rotation/secrets/${path}/runs`, { token });
    expect(r.status).toBe(200);
    return r.body.data as Record<string, unknown>[];
  }
});
