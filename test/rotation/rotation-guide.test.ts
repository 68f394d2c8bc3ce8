import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import type { TestVault } from "../support/vault.js";
import { DAY, corruptCurrentVersion, longToken, registerWebhook, startRotationVault } from "./rotation-fixtures.js";

const OAUTH = "environments/production/salesforce/oauth";
const STAGING = "environments/staging/db-password";

describe("rotation over REST: the guide's examples", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startRotationVault(clock);
    token = await longToken(tv, "acme");
    await registerWebhook(tv, token, "rotation_alerts");
    await tv.rest("PUT", `/v1/secrets/${OAUTH}`, { token, body: { data: { client_id: "3MVG9", client_secret: "s1" }, secret_type: "json" } });
  });
  afterAll(async () => tv?.close());

  it("creates a policy with the guide's curl body: 201 and the documented response", async () => {
    const res = await tv.rest("POST", "/v1/rotation/policies", {
      token,
      body: {
        name: "quarterly",
        description: "90-day rotation for production credentials",
        interval: "90d",
        grace_period: "48h",
        warn_before: "7d,1d",
        auto_generate: false,
        webhook_ids: ["wh_rotation_alerts"],
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: "rot_quarterly",
      name: "quarterly",
      interval: "90d",
      interval_seconds: 7776000,
      grace_period: "48h",
      warn_before: "7d,1d",
      auto_generate: false,
      is_active: true,
      secrets_count: 0,
      created_at: "2026-04-23T14:00:00Z",
      description: "90-day rotation for production credentials",
      webhook_ids: ["wh_rotation_alerts"],
    });
  });

  it("creates with the Python and TypeScript bodies; grace_period defaults to 48h, auto_generate to false", async () => {
    const other = await longToken(tv, "acme-py");
    const py = await tv.rest("POST", "/v1/rotation/policies", {
      token: other,
      body: { name: "quarterly", interval: "90d", grace_period: "48h", warn_before: "7d,1d", auto_generate: false },
    });
    expect(py.status).toBe(201);
    expect(py.body).toMatchObject({ id: "rot_quarterly", warn_before: "7d,1d", webhook_ids: [] });
    const ts = await tv.rest("POST", "/v1/rotation/policies", { token: await longToken(tv, "acme-ts"), body: { name: "quarterly", interval: "90d", grace_period: "48h", auto_generate: false } });
    expect(ts.status).toBe(201);
    // No warn_before: the prior art's default warnings; an explicit empty one turns them off.
    expect(ts.body.warn_before).toBe("7d,1d");
    const quiet = await tv.rest("POST", "/v1/rotation/policies", { token: other, body: { name: "quiet", interval: "90d", warn_before: "" } });
    expect(quiet.body.warn_before).toBeUndefined();
    const minimal = await tv.rest("POST", "/v1/rotation/policies", { token: other, body: { name: "weekly", interval: "7d" } });
    expect(minimal.body).toMatchObject({ id: "rot_weekly", grace_period: "48h", auto_generate: false, interval_seconds: 604800 });
  });

  it("assigns a secret: 201 SecretAssignment with the schedule", async () => {
    const res = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/secrets", { token, body: { secret_path: OAUTH } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      policy_id: "rot_quarterly",
      secret_path: OAUTH,
      assigned_at: "2026-04-23T14:00:00Z",
      next_rotation_at: "2026-07-22T14:00:00Z",
      last_rotated_at: null,
    });
    const again = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/secrets", { token, body: { secret_path: OAUTH } });
    expect(again.status).toBe(200);
    expect(again.body.assigned_at).toBe("2026-04-23T14:00:00Z");
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_quarterly", { token })).body.secrets_count).toBe(1);
  });

  it("assigns at write time with options.rotation_policy_id (the guide's PUT body)", async () => {
    const res = await tv.rest("PUT", `/v1/secrets/${OAUTH}`, {
      token,
      body: { data: { client_id: "...", client_secret: "..." }, options: { rotation_policy_id: "rot_quarterly" } },
    });
    expect(res.status).toBe(200);
    const fresh = await tv.rest("PUT", "/v1/secrets/environments/production/hubspot/oauth", {
      token,
      body: { data: { client_id: "...", client_secret: "..." }, options: { rotation_policy_id: "rot_quarterly" } },
    });
    expect(fresh.status).toBe(201);
    const meta = await tv.rest("GET", "/v1/secrets/metadata/environments/production/hubspot/oauth", { token });
    expect(meta.body.rotation_policy).toEqual({ id: "rot_quarterly", next_rotation: "2026-07-22T14:00:00Z" });
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_quarterly", { token })).body.secrets_count).toBe(2);
  });

  it("detaches with the URL-encoded path of the guide", async () => {
    const res = await tv.rest("DELETE", "/v1/rotation/policies/rot_quarterly/secrets/environments%2Fproduction%2Fhubspot%2Foauth", { token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ policy_id: "rot_quarterly", secret_path: "environments/production/hubspot/oauth", detached: true });
    const meta = await tv.rest("GET", "/v1/secrets/metadata/environments/production/hubspot/oauth", { token });
    expect(meta.body.rotation_policy).toBeNull();
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_quarterly", { token })).body.secrets_count).toBe(1);
    const twice = await tv.rest("DELETE", "/v1/rotation/policies/rot_quarterly/secrets/environments%2Fproduction%2Fhubspot%2Foauth", { token });
    expect(twice.body.detached).toBe(false);
  });

  it("disables and enables; active_only lists only active policies", async () => {
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "monthly", interval: "30d" } });
    const off = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/disable", { token });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ id: "rot_quarterly", is_active: false, secrets_count: 1 });
    const active = await tv.rest("GET", "/v1/rotation/policies?active_only=true", { token });
    expect(active.status).toBe(200);
    expect(active.body.data.map((p: any) => p.id)).toEqual(["rot_monthly"]);
    expect(active.body).toMatchObject({ cursor: null, has_more: false });
    const all = await tv.rest("GET", "/v1/rotation/policies", { token });
    expect(all.body.data.map((p: any) => [p.id, p.is_active, p.secrets_count])).toEqual([
      ["rot_monthly", true, 0],
      ["rot_quarterly", false, 1],
    ]);
    const on = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/enable", { token });
    expect(on.body).toMatchObject({ id: "rot_quarterly", is_active: true });
  });

  it("pages policies with limit and cursor", async () => {
    const first = await tv.rest("GET", "/v1/rotation/policies?limit=1", { token });
    expect(first.body).toMatchObject({ has_more: true });
    expect(first.body.data).toHaveLength(1);
    const second = await tv.rest("GET", `/v1/rotation/policies?limit=1&cursor=${first.body.cursor}`, { token });
    expect(second.body.data[0].id).not.toBe(first.body.data[0].id);
    expect(second.body).toMatchObject({ has_more: false, cursor: null });
  });

  it("patches partially; webhook_ids [] clears them", async () => {
    const patched = await tv.rest("PATCH", "/v1/rotation/policies/rot_monthly", { token, body: { description: "monthly", webhook_ids: ["wh_rotation_alerts"] } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ description: "monthly", webhook_ids: ["wh_rotation_alerts"], interval: "30d" });
    const cleared = await tv.rest("PATCH", "/v1/rotation/policies/rot_monthly", { token, body: { webhook_ids: [] } });
    expect(cleared.body).toMatchObject({ description: "monthly", webhook_ids: [] });
    const renamed = await tv.rest("PATCH", "/v1/rotation/policies/rot_monthly", { token, body: { name: "other" } });
    expect(renamed.status).toBe(400);
  });

  it("rotates the whole policy and then scoped paths: a JSON array of RotationHistoryItem", async () => {
    await tv.rest("PUT", "/v1/secrets/environments/production/salesforce/api", { token, body: { data: { k: 1 }, options: { rotation_policy_id: "rot_quarterly" } } });
    const whole = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/rotate", { token });
    expect(whole.status).toBe(200);
    expect(Array.isArray(whole.body)).toBe(true);
    expect(whole.body.map((i: any) => [i.secret_path, i.status])).toEqual([
      ["environments/production/salesforce/api", "pending"],
      [OAUTH, "pending"],
    ]);
    expect(whole.body[0]).toMatchObject({ policy_id: "rot_quarterly", rotated_by: "tester", reason: "manual" });
    expect(whole.body[0].id).toMatch(/^rh_/);

    const scoped = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/rotate", { token, body: { secret_paths: [OAUTH] } });
    expect(scoped.status).toBe(200);
    expect(scoped.body).toHaveLength(1);
    // Still awaiting the new version: the same pending item, not a second one.
    expect(scoped.body[0].id).toBe(whole.body[1].id);
  });

  it("rotates an auto-generating policy now: new versions, success items, old version in its grace period", async () => {
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "generated", interval: "30d", grace_period: "1h", auto_generate: true } });
    await tv.rest("PUT", "/v1/secrets/app/db/password", { token, body: { data: { username: "app", password: "initial" }, options: { rotation_policy_id: "rot_generated" } } });
    const res = await tv.rest("POST", "/v1/rotation/policies/rot_generated/rotate", { token, body: {} });
    expect(res.body).toEqual([
      expect.objectContaining({ secret_path: "app/db/password", status: "success", old_version: 1, new_version: 2, rotated_by: "tester", policy_id: "rot_generated" }),
    ]);
    const current = await tv.rest("GET", "/v1/secrets/app/db/password", { token });
    expect(current.body.data.username).toBe("app");
    expect(current.body.data.password).toMatch(/^[A-Za-z0-9]{32}$/);
    const versions = await tv.rest("GET", "/v1/secrets/app/db/password/versions", { token });
    expect(versions.body.versions[1]).toMatchObject({ version: 1, readable_until: "2026-04-23T15:00:00Z" });
  });

  it("lists history newest first with the guide's fields, and filters status=failed", async () => {
    await corruptCurrentVersion(tv, "acme", "app/db/password");
    const failed = await tv.rest("POST", "/v1/rotation/policies/rot_generated/rotate", { token });
    expect(failed.body[0]).toMatchObject({ status: "failed", old_version: 2, error: "the current version could not be decrypted" });
    expect(failed.body[0].new_version).toBeUndefined();

    const history = await tv.rest("GET", "/v1/rotation/policies/rot_generated/history", { token });
    expect(history.status).toBe(200);
    expect(history.body.has_more).toBe(false);
    expect(history.body.data.map((i: any) => i.status)).toEqual(["failed", "success"]);
    const success = history.body.data[1];
    expect(Object.keys(success)).toEqual(expect.arrayContaining(["id", "policy_id", "secret_path", "status", "old_version", "new_version", "rotated_at", "rotated_by"]));
    expect(success).toMatchObject({ policy_id: "rot_generated", secret_path: "app/db/password", status: "success", old_version: 1, new_version: 2, rotated_at: "2026-04-23T14:00:00Z" });

    const onlyFailed = await tv.rest("GET", "/v1/rotation/policies/rot_generated/history?status=failed", { token });
    expect(onlyFailed.body.data.map((i: any) => i.status)).toEqual(["failed"]);
    const page = await tv.rest("GET", "/v1/rotation/policies/rot_generated/history?limit=1", { token });
    expect(page.body).toMatchObject({ has_more: true });
    const rest = await tv.rest("GET", `/v1/rotation/policies/rot_generated/history?limit=1&cursor=${page.body.cursor}`, { token });
    expect(rest.body.data[0].status).toBe("success");
    expect(rest.body).toMatchObject({ has_more: false, cursor: null });
  });

  it("finds secrets due with within_hours=168&include_overdue=true, and the deprecated /pending alias agrees", async () => {
    await tv.rest("PUT", `/v1/secrets/${STAGING}`, { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_monthly" } } });
    clock.advance(84 * DAY); // quarterly: due in 6 days; monthly: overdue
    const res = await tv.rest("GET", "/v1/rotation/due?within_hours=168&include_overdue=true", { token });
    expect(res.status).toBe(200);
    const byPath = Object.fromEntries(res.body.secrets.map((s: any) => [s.path, s]));
    expect(byPath[OAUTH]).toEqual({ path: OAUTH, policy_id: "rot_quarterly", policy_name: "quarterly", next_rotation_at: "2026-07-22T14:00:00Z", is_overdue: false });
    expect(byPath[STAGING]).toEqual({ path: STAGING, policy_id: "rot_monthly", policy_name: "monthly", next_rotation_at: "2026-05-23T14:00:00Z", is_overdue: true });
    // soonest first
    expect(res.body.secrets.at(-1).path).toBe(OAUTH);

    const alias = await tv.rest("GET", "/v1/rotation/pending?within_hours=168&include_overdue=true", { token });
    expect(alias.body).toEqual(res.body);
    const notOverdue = await tv.rest("GET", "/v1/rotation/due?within_hours=168&include_overdue=false", { token });
    expect(notOverdue.body.secrets.map((s: any) => s.path)).not.toContain(STAGING);
    const byDefault = await tv.rest("GET", "/v1/rotation/due", { token });
    expect(byDefault.body.secrets.map((s: any) => s.path)).toContain(STAGING);
    expect(byDefault.body.secrets.map((s: any) => s.path)).not.toContain(OAUTH);
    const onePolicy = await tv.rest("GET", "/v1/rotation/due?within_hours=168&policy_id=rot_quarterly", { token });
    expect(onePolicy.body.secrets.every((s: any) => s.policy_id === "rot_quarterly")).toBe(true);
    const rotator = await longToken(tv, "acme", ["secrets:rotate"]);
    expect((await tv.rest("GET", "/v1/rotation/due", { token: rotator })).status).toBe(200);
  });

  it("deletes a policy and detaches its secrets", async () => {
    const res = await tv.rest("DELETE", "/v1/rotation/policies/rot_monthly", { token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: "rot_monthly", deleted: true, detached_secrets: 1 });
    const meta = await tv.rest("GET", `/v1/secrets/metadata/${STAGING}`, { token });
    expect(meta.body.rotation_policy).toBeNull();
    const row = await tv.vault.db.selectFrom("secrets").select("rotation_policy_id").where("path", "=", STAGING).executeTakeFirstOrThrow();
    expect(row.rotation_policy_id).toBeNull();
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_monthly", { token })).status).toBe(404);
  });

  it("records an audit entry for policy changes", async () => {
    const log = await tv.rest("GET", "/v1/audit/events?action=CreateRotationPolicy", { token });
    expect(log.body.data.length).toBeGreaterThanOrEqual(3);
    expect(log.body.data[0]).toMatchObject({ outcome: "allowed", target_tenant: "acme" });
    const assigned = await tv.rest("GET", `/v1/audit/events?action=AssignSecret&path=${OAUTH}`, { token });
    expect(assigned.body.data[0]).toMatchObject({ outcome: "allowed", path: OAUTH });
  });
});
