// A new rotation while the previous rotation's old credential is still in its grace period, with
// aws_iam against the IAM-compatible endpoint (two keys per user, so a third credential is not
// possible): the rotate call is refused with failed_precondition and IAM is left untouched; the
// scheduler skips the cycle. After a rotation that failed at verify, a new rotation resolves it
// once the grace period is over: the propagation check must pass again, then the earlier old key
// is revoked, and only then is the next key created.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startFakeIam, type FakeIam } from "../support/fake-iam.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV } from "./provider-replica.js";
import { HOUR, longToken, outbox } from "./rotation-fixtures.js";

const TENANT = "grace";

describe("a new provider rotation while the previous credential is in its grace period", () => {
  const clock = createManualClock("2026-06-01T08:00:00Z");
  let tv: TestVault;
  let token: string;
  let iam: FakeIam;
  let health: CredentialEndpoint;

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV });
    token = await longToken(tv, TENANT);
    iam = await startFakeIam();
    health = await startCredentialEndpoint({ secret: "unused" });
  }, 120_000);
  afterAll(async () => {
    await tv?.close();
    await iam?.close();
    await health?.close();
  });

  const runDue = () => tv.vault.rotationRunner.runDue(clock.now());
  const keyIds = (user: string) => iam.keysOf(user).map((k) => k.accessKeyId).sort();
  const rotate = (path: string) => tv.rest("POST", `/v1/secrets/${path}/rotate`, { token, body: {} });

  async function bindIam(path: string, user: string, extra: Record<string, unknown> = {}) {
    const seeded = iam.seedKey(user);
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { access_key_id: seeded.accessKeyId, secret_access_key: seeded.secretAccessKey } } })).status).toBe(201);
    const bound = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, {
      token,
      body: { provider: "aws_iam", config: { iam_user_name: user, region: "us-east-1", endpoint: iam.url }, grace_period: "1h", propagation_check: { url: health.healthUrl }, ...extra },
    });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
    return seeded.accessKeyId;
  }

  it("refuses a manual rotation during the grace period with failed_precondition and touches no key; after the revoke it rotates", async () => {
    const path = "grace/iam-manual";
    const first = await bindIam(path, "grace-manual");
    const rotated = await rotate(path);
    expect(rotated.body).toMatchObject({ version: 2, previous_version: 1 });
    const second = (await tv.rest("GET", `/v1/secrets/${path}`, { token })).body.data.access_key_id as string;
    expect(keyIds("grace-manual")).toEqual([first, second].sort());

    // Still verifying (the runner has not run yet), then waiting out the grace period: both refused.
    for (const phase of ["verifying", "in its grace period"]) {
      const again = await rotate(path);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe("failed_precondition");
      expect(again.body.error.message).toContain(phase);
      expect(keyIds("grace-manual"), "the in-grace key is not deleted").toEqual([first, second].sort());
      await runDue();
    }
    expect((await tv.rest("GET", `/v1/secrets/${path}?stage=previous`, { token })).body.data.access_key_id).toBe(first);

    clock.advance(HOUR + 1000);
    await runDue();
    expect(keyIds("grace-manual")).toEqual([second]);
    const third = await rotate(path);
    expect(third.body).toMatchObject({ version: 3, previous_version: 2 });
    expect(iam.keysOf("grace-manual")).toHaveLength(2);
  });

  it("the scheduler skips a cycle that falls due inside the grace period of a rotation that failed at verify, without a second run", async () => {
    const path = "grace/iam-scheduled";
    expect((await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "hourly", interval: "1h", grace_period: "3h" } })).status).toBe(201);
    const first = await bindIam(path, "grace-scheduled", { policy_id: "rot_hourly", grace_period: "", max_attempts: 1 });
    health.healthStatus = 503;
    clock.advance(HOUR + 1000);
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    await runDue();
    await runDue();
    health.healthStatus = 200;
    const second = (await tv.rest("GET", `/v1/secrets/${path}`, { token })).body.data.access_key_id as string;
    expect(second).not.toBe(first);
    clock.advance(HOUR + 1000); // due again, the old key still has two hours of grace
    await tv.vault.scheduler.runSchedulerTick(clock.now());
    await runDue();
    const runs = (await tv.rest("GET", `/v1/rotation/secrets/${path}/runs`, { token })).body.data;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "failed", step: "verify", triggered_by: "scheduled" });
    expect(keyIds("grace-scheduled")).toEqual([first, second].sort());
  });

  it("after a rotation failed at verify: refused inside the grace period; then a new rotation re-checks propagation before it revokes the earlier key", async () => {
    const path = "grace/iam-failed";
    const user = "grace-failed";
    const first = await bindIam(path, user, { max_attempts: 1 });
    health.healthStatus = 503;
    expect((await rotate(path)).body).toMatchObject({ version: 2 });
    const second = (await tv.rest("GET", `/v1/secrets/${path}`, { token })).body.data.access_key_id as string;
    await runDue();
    const failed = (await tv.rest("GET", `/v1/rotation/secrets/${path}`, { token })).body;
    expect(failed).toMatchObject({ status: "failing", last_run: { status: "failed", step: "verify" } });

    const inGrace = await rotate(path);
    expect(inGrace.status).toBe(409);
    expect(inGrace.body.error).toMatchObject({ code: "failed_precondition" });
    expect(inGrace.body.error.message).toContain("failed at verify");
    expect(keyIds(user)).toEqual([first, second].sort());

    // Past the grace period, but consumers still unconfirmed: the new run revokes nothing and fails.
    clock.advance(HOUR + 1000);
    const doubtful = await rotate(path);
    expect(doubtful.status).toBe(503);
    expect(doubtful.body.error.message).toMatch(/propagation check answered 503/);
    expect(keyIds(user), "nothing revoked under doubt").toEqual([first, second].sort());
    expect((await tv.rest("GET", `/v1/secrets/${path}?stage=previous`, { token })).body.data.access_key_id).toBe(first);

    health.healthStatus = 200;
    const resolved = await rotate(path);
    expect(resolved.body).toMatchObject({ version: 3, previous_version: 2 });
    const third = (await tv.rest("GET", `/v1/secrets/${path}`, { token })).body.data.access_key_id as string;
    expect(keyIds(user)).toEqual([second, third].sort());
    expect((await tv.rest("GET", `/v1/secrets/${path}?version=1`, { token })).body.error.code).toBe("version_not_found");
    const runs = (await tv.rest("GET", `/v1/rotation/secrets/${path}/runs`, { token })).body.data;
    expect(runs[0].steps.map((s: any) => s.step)).toEqual(["preflight", "revoke_previous", "create", "test", "promote"]);
    expect(runs[2].steps.at(-1)).toMatchObject({ step: "revoke", status: "succeeded" });
    const revoked = (await outbox(tv, TENANT)).filter((e) => e.path === path && e.event_type === "rotation.revoked");
    expect(revoked.map((e) => e.data.old_version)).toEqual([1]);

    clock.advance(HOUR + 1000);
    await runDue();
    await runDue();
    expect(keyIds(user)).toEqual([third]);
    expect((await tv.rest("GET", `/v1/rotation/secrets/${path}`, { token })).body.status).toBe("active");
  });
});
