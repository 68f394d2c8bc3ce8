import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import type { TestVault } from "../support/vault.js";
import { longToken, startRotationVault } from "./rotation-fixtures.js";

describe("rotation errors: one test per code of the guide's table, over REST and gRPC", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let tv: TestVault;
  let token: string;
  let rotation: any;
  beforeAll(async () => {
    tv = await startRotationVault(clock);
    token = await longToken(tv, "errs");
    rotation = grpcClient(tv.port, "RotationService", "rotation.proto");
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "quarterly", interval: "90d" } });
    await tv.rest("PUT", "/v1/secrets/app/db", { token, body: { data: { a: 1 } } });
  });
  afterAll(async () => {
    rotation?.close();
    await tv?.close();
  });

  const grpcReason = async (method: string, request: unknown, withToken = token) => {
    try {
      await unary(rotation, method, request, withToken);
    } catch (err) {
      return { code: (err as any).code, reason: reasonOf(err as any) };
    }
    throw new Error(`${method} succeeded`);
  };

  it("rotation_policy_not_found (404) on every route that names a policy", async () => {
    const calls: [string, string, unknown?][] = [
      ["GET", "/v1/rotation/policies/rot_missing"],
      ["PATCH", "/v1/rotation/policies/rot_missing", { description: "x" }],
      ["DELETE", "/v1/rotation/policies/rot_missing"],
      ["POST", "/v1/rotation/policies/rot_missing/enable"],
      ["POST", "/v1/rotation/policies/rot_missing/disable"],
      ["POST", "/v1/rotation/policies/rot_missing/secrets", { secret_path: "app/db" }],
      ["DELETE", "/v1/rotation/policies/rot_missing/secrets/app%2Fdb"],
      ["POST", "/v1/rotation/policies/rot_missing/rotate"],
      ["GET", "/v1/rotation/policies/rot_missing/history"],
      ["GET", "/v1/rotation/due?policy_id=rot_missing"],
    ];
    for (const [method, path, body] of calls) {
      const res = await tv.rest(method, path, { token, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code, `${method} ${path}`).toBe("rotation_policy_not_found");
      expect(res.body.error.request_id).toBeTruthy();
    }
    // another tenant's policy is not found either
    const other = await longToken(tv, "errs-other");
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_quarterly", { token: other })).body.error.code).toBe("rotation_policy_not_found");
    expect(await grpcReason("GetRotationPolicy", { id: "rot_missing" })).toEqual({ code: 5, reason: "rotation_policy_not_found" });
    expect(await grpcReason("EnableRotationPolicy", { id: "rot_missing" })).toEqual({ code: 5, reason: "rotation_policy_not_found" });
  });

  it("secret_not_found (404) when assigning a secret that does not exist (or is deleted)", async () => {
    const res = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/secrets", { token, body: { secret_path: "no/such/secret" } });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("secret_not_found");
    await tv.rest("PUT", "/v1/secrets/gone/soon", { token, body: { data: { a: 1 } } });
    await tv.rest("DELETE", "/v1/secrets/gone/soon", { token });
    expect((await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/secrets", { token, body: { secret_path: "gone/soon" } })).body.error.code).toBe("secret_not_found");
    expect((await tv.rest("DELETE", "/v1/rotation/policies/rot_quarterly/secrets/no%2Fsuch", { token })).body.error.code).toBe("secret_not_found");
    const scoped = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/rotate", { token, body: { secret_paths: ["no/such/secret"] } });
    expect(scoped.body.error.code).toBe("secret_not_found");
    expect(await grpcReason("AssignSecret", { id: "rot_quarterly", secret_path: "no/such/secret" })).toEqual({ code: 5, reason: "secret_not_found" });
  });

  it("name_conflict (409) when the policy name exists in the tenant", async () => {
    const res = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "quarterly", interval: "30d" } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("name_conflict");
    expect(await grpcReason("CreateRotationPolicy", { name: "quarterly", interval: "30d" })).toEqual({ code: 6, reason: "name_conflict" });
    // names are per tenant
    const other = await longToken(tv, "errs-other");
    expect((await tv.rest("POST", "/v1/rotation/policies", { token: other, body: { name: "quarterly", interval: "30d" } })).status).toBe(201);
  });

  it("invalid_duration (400) when interval, grace_period or warn_before do not parse or are out of range", async () => {
    const bodies = [
      { name: "d1", interval: "soon" },
      { name: "d2", interval: "90 days" },
      { name: "d3", interval: "30m" },
      { name: "d4", interval: "90d", grace_period: "2 days" },
      { name: "d5", interval: "90d", warn_before: "7d,x" },
      { name: "d6", interval: "7d", warn_before: "7d" },
      { name: "d7", interval: "99999d" },
    ];
    for (const body of bodies) {
      const res = await tv.rest("POST", "/v1/rotation/policies", { token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code, JSON.stringify(body)).toBe("invalid_duration");
    }
    expect((await tv.rest("PATCH", "/v1/rotation/policies/rot_quarterly", { token, body: { grace_period: "later" } })).body.error.code).toBe("invalid_duration");
    expect(await grpcReason("CreateRotationPolicy", { name: "d8", interval: "often" })).toEqual({ code: 3, reason: "invalid_duration" });
    expect((await tv.rest("GET", "/v1/rotation/policies", { token })).body.data.map((p: any) => p.name)).toEqual(["quarterly"]);
  });

  it("webhook_not_found and secret_policy_not_found for references that do not exist", async () => {
    const hook = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "hooked", interval: "90d", webhook_ids: ["wh_nope"] } });
    expect(hook.status).toBe(404);
    expect(hook.body.error.code).toBe("webhook_not_found");
    expect((await tv.rest("PATCH", "/v1/rotation/policies/rot_quarterly", { token, body: { webhook_ids: ["wh_nope"] } })).body.error.code).toBe("webhook_not_found");
    const sp = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "gen", interval: "90d", auto_generate: true, secret_policy_id: "sp_nope" } });
    expect(sp.body.error.code).toBe("secret_policy_not_found");
  });

  it("invalid_request for malformed fields, naming them", async () => {
    const cases: [unknown, RegExp][] = [
      [{ interval: "90d" }, /name/],
      [{ name: "Quarterly", interval: "90d" }, /name/],
      [{ name: "x".repeat(65), interval: "90d" }, /name/],
      [{ name: "no-interval" }, /interval/],
      [{ name: "typed", interval: 90 }, /interval/],
      [{ name: "extra", interval: "90d", tenant_id: "someone-else" }, /tenant_id/],
    ];
    for (const [body, message] of cases) {
      const res = await tv.rest("POST", "/v1/rotation/policies", { token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.message).toMatch(message);
    }
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_quarterly/history?status=done", { token })).body.error.code).toBe("invalid_request");
    expect((await tv.rest("GET", "/v1/rotation/policies?limit=0", { token })).body.error.code).toBe("invalid_request");
    expect((await tv.rest("GET", "/v1/rotation/policies?cursor=nope", { token })).body.error.code).toBe("invalid_request");
    expect((await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/secrets", { token, body: { secret_path: "bad//path" } })).body.error.code).toBe("invalid_path");
    const unassigned = await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/rotate", { token, body: { secret_paths: ["app/db"] } });
    expect(unassigned.body.error).toMatchObject({ code: "invalid_request", message: expect.stringMatching(/not assigned/) });
  });

  it("enforces the scopes of the proto: admin for policies, secrets:rotate for rotate and due, audit:read for history", async () => {
    const rotator = await longToken(tv, "errs", ["secrets:rotate"]);
    const auditor = await longToken(tv, "errs", ["audit:read"]);
    expect((await tv.rest("POST", "/v1/rotation/policies", { token: rotator, body: { name: "x", interval: "90d" } })).status).toBe(403);
    expect((await tv.rest("GET", "/v1/rotation/policies", { token: rotator })).body.error.code).toBe("access_denied");
    expect((await tv.rest("POST", "/v1/rotation/policies/rot_quarterly/rotate", { token: rotator })).status).toBe(200);
    expect((await tv.rest("GET", "/v1/rotation/due", { token: rotator })).status).toBe(200);
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_quarterly/history", { token: rotator })).status).toBe(403);
    expect((await tv.rest("GET", "/v1/rotation/policies/rot_quarterly/history", { token: auditor })).status).toBe(200);
    expect((await tv.rest("GET", "/v1/rotation/due", { token: auditor })).status).toBe(403);
    expect(await grpcReason("ListRotationPolicies", {}, rotator)).toEqual({ code: 7, reason: "access_denied" });
  });

  it("serves the same policy over gRPC as over REST", async () => {
    const res = await unary(rotation, "GetRotationPolicy", { id: "rot_quarterly" }, token);
    expect(res).toMatchObject({ id: "rot_quarterly", name: "quarterly", interval: "90d", interval_seconds: 7776000, grace_period: "48h", is_active: true });
    const due = await unary(rotation, "ListDueSecrets", { within_hours: 24 }, token);
    expect(due.secrets ?? []).toEqual([]);
  });
});
