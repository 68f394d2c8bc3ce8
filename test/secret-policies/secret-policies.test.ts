import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";

describe("secret policies (value generation)", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let tv: TestVault;
  let token: string;
  let client: any;
  beforeAll(async () => {
    tv = await startTestVault({ clock, env: { SCAIVAULT_SCHEDULER_ENABLED: "false" } });
    token = await tv.token({ tenantId: "gen", ttlSeconds: 86400 });
    client = grpcClient(tv.port, "SecretPolicyService", "secret_policies.proto");
  });
  afterAll(async () => {
    client?.close();
    await tv?.close();
  });

  it("creates with the contract's defaults: 201, sp_<name>, 32 alphanumeric characters into password", async () => {
    const res = await tv.rest("POST", "/v1/secret-policies", { token, body: { name: "default" } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: "sp_default",
      name: "default",
      length: 32,
      charset: "alphanumeric",
      require_uppercase: false,
      require_lowercase: false,
      require_digits: false,
      require_symbols: false,
      fields: ["password"],
      created_at: "2026-04-23T14:00:00Z",
      updated_at: "2026-04-23T14:00:00Z",
    });
    const got = await tv.rest("GET", "/v1/secret-policies/sp_default", { token });
    expect(got.body).toEqual(res.body);
  });

  it("creates every charset, custom with chars, and rejects name conflicts", async () => {
    for (const charset of ["alphanumeric", "ascii_printable", "hex", "base64url"]) {
      expect((await tv.rest("POST", "/v1/secret-policies", { token, body: { name: `cs-${charset.replace("_", "-")}`, charset } })).status).toBe(201);
    }
    const custom = await tv.rest("POST", "/v1/secret-policies", { token, body: { name: "pin", length: 8, charset: "custom", chars: "0123456789", fields: ["pin"] } });
    expect(custom.body).toMatchObject({ id: "sp_pin", charset: "custom", chars: "0123456789", fields: ["pin"] });
    const conflict = await tv.rest("POST", "/v1/secret-policies", { token, body: { name: "pin" } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("name_conflict");
  });

  it.each([
    ["hex cannot hold uppercase", { charset: "hex", require_uppercase: true }, /require_uppercase/],
    ["digits all excluded", { require_digits: true, exclude_chars: "0123456789" }, /require_digits/],
    ["alphanumeric has no symbols", { require_symbols: true }, /require_symbols/],
    ["one character left", { charset: "custom", chars: "ab", exclude_chars: "b" }, /fewer than 2/],
    ["too short for the classes", { length: 8, charset: "custom", chars: "aA1!", require_uppercase: true, require_lowercase: true, require_digits: true, require_symbols: true, exclude_chars: "!" }, /require_symbols/],
  ])("rejects an impossible policy at create time with invalid_request: %s", async (_, body, reason) => {
    const res = await tv.rest("POST", "/v1/secret-policies", { token, body: { name: "impossible", ...body } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(res.body.error.message).toMatch(reason);
    expect((await tv.rest("GET", "/v1/secret-policies/sp_impossible", { token })).status).toBe(404);
  });

  it.each([
    [{ length: 7 }, /length/],
    [{ length: 1025 }, /length/],
    [{ charset: "emoji" }, /charset/],
    [{ charset: "custom" }, /chars/],
    [{ chars: "abc" }, /chars/],
    [{ fields: [""] }, /fields/],
    [{ name: "Has Spaces" }, /name/],
  ])("rejects malformed fields with invalid_request naming them: %j", async (body, message) => {
    const res = await tv.rest("POST", "/v1/secret-policies", { token, body: { name: "bad", ...body } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", message: expect.stringMatching(message) });
  });

  it("rejects an impossible policy over gRPC too", async () => {
    try {
      await unary(client, "CreateSecretPolicy", { name: "grpc-impossible", charset: "hex", require_symbols: true }, token);
      expect.unreachable();
    } catch (err) {
      expect((err as any).code).toBe(3);
      expect(reasonOf(err as any)).toBe("invalid_request");
    }
    const ok = await unary(client, "CreateSecretPolicy", { name: "grpc-ok", length: 20 }, token);
    expect(ok).toMatchObject({ id: "sp_grpc-ok", length: 20 });
  });

  it("updates partially; an update that makes the policy impossible is refused and changes nothing", async () => {
    await tv.rest("POST", "/v1/secret-policies", { token, body: { name: "patchme", charset: "ascii_printable", require_symbols: true } });
    clock.advance(60_000);
    const patched = await tv.rest("PATCH", "/v1/secret-policies/sp_patchme", { token, body: { length: 48, fields: ["password", "api_key"], description: "db" } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ length: 48, charset: "ascii_printable", require_symbols: true, fields: ["password", "api_key"], description: "db", updated_at: "2026-04-23T14:01:00Z" });
    const impossible = await tv.rest("PATCH", "/v1/secret-policies/sp_patchme", { token, body: { charset: "hex" } });
    expect(impossible.status).toBe(400);
    expect(impossible.body.error.code).toBe("invalid_request");
    expect((await tv.rest("PATCH", "/v1/secret-policies/sp_patchme", { token, body: { fields: [] } })).status).toBe(400);
    expect((await tv.rest("GET", "/v1/secret-policies/sp_patchme", { token })).body).toMatchObject({ charset: "ascii_printable", length: 48 });
    const toCustom = await tv.rest("PATCH", "/v1/secret-policies/sp_patchme", { token, body: { charset: "custom", chars: "abc!?", require_symbols: true } });
    expect(toCustom.body).toMatchObject({ charset: "custom", chars: "abc!?" });
    const back = await tv.rest("PATCH", "/v1/secret-policies/sp_patchme", { token, body: { charset: "alphanumeric", require_symbols: false } });
    expect(back.body.chars).toBeUndefined();
  });

  it("lists with limit and cursor; secret_policy_not_found for unknown ids", async () => {
    const first = await tv.rest("GET", "/v1/secret-policies?limit=2", { token });
    expect(first.body.data).toHaveLength(2);
    expect(first.body.has_more).toBe(true);
    const ids = [...first.body.data.map((p: any) => p.id)];
    let cursor = first.body.cursor;
    while (cursor) {
      const page = await tv.rest("GET", `/v1/secret-policies?limit=2&cursor=${cursor}`, { token });
      ids.push(...page.body.data.map((p: any) => p.id));
      cursor = page.body.cursor;
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain("sp_pin");
    for (const [method, body] of [["GET"], ["PATCH", { length: 12 }], ["DELETE"]] as const) {
      const res = await tv.rest(method, "/v1/secret-policies/sp_nope", { token, body });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("secret_policy_not_found");
    }
    const other = await tv.token({ tenantId: "gen-other" });
    expect((await tv.rest("GET", "/v1/secret-policies/sp_pin", { token: other })).status).toBe(404);
    const reader = await tv.token({ tenantId: "gen", scopes: ["secrets:read", "secrets:write"] });
    expect((await tv.rest("GET", "/v1/secret-policies", { token: reader })).status).toBe(403);
  });

  it("generates values that meet every require_* class, end to end through the API, over many draws", async () => {
    const sp = await tv.rest("POST", "/v1/secret-policies", {
      token,
      body: {
        name: "strong",
        length: 16,
        charset: "ascii_printable",
        require_uppercase: true,
        require_lowercase: true,
        require_digits: true,
        require_symbols: true,
        exclude_chars: "O0Il1\"'\\",
        // many fields per rotation: each draw checks 20 generated values
        fields: Array.from({ length: 20 }, (_, i) => `key${i}`),
      },
    });
    expect(sp.status).toBe(201);
    await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "strong-rot", interval: "30d", auto_generate: true, secret_policy_id: "sp_strong", grace_period: "1h" } });
    await tv.rest("PUT", "/v1/secrets/gen/db", { token, body: { data: { username: "svc", password: "initial" }, options: { rotation_policy_id: "rot_strong-rot" } } });

    const draws = 50;
    const seen = new Set<string>();
    for (let i = 0; i < draws; i++) {
      // the per-secret rotate without new_value generates, because the policy says auto_generate
      const rot = await tv.rest("POST", "/v1/secrets/gen/db/rotate", { token, body: { reason: "draw" } });
      expect(rot.status).toBe(200);
      const { data } = (await tv.rest("GET", "/v1/secrets/gen/db", { token })).body;
      expect(data.username).toBe("svc");
      expect(data.password).toBe("initial");
      for (let k = 0; k < 20; k++) {
        const value = data[`key${k}`] as string;
        expect(value).toHaveLength(16);
        expect(value).toMatch(/[A-Z]/);
        expect(value).toMatch(/[a-z]/);
        expect(value).toMatch(/[0-9]/);
        expect(value).toMatch(/[^A-Za-z0-9]/);
        expect(value).toMatch(/^[\x21-\x7e]+$/);
        expect(value).not.toMatch(/[O0Il1"'\\]/);
        seen.add(value);
      }
    }
    expect(seen.size).toBe(20 * draws);
    // the generated values never reach the history, the events or the logs
    const history = await tv.rest("GET", "/v1/rotation/policies/rot_strong-rot/history?limit=200", { token });
    expect(history.body.data).toHaveLength(draws);
    const events = await tv.vault.db.selectFrom("events").select("data").where("tenant_id", "=", "gen").execute();
    const published = JSON.stringify([history.body, events, tv.logs]);
    for (const value of [...seen].slice(0, 20)) expect(published).not.toContain(value);
  });

  it("a secret's own options.secret_policy_id wins over its rotation policy's", async () => {
    await tv.rest("POST", "/v1/secret-policies", { token, body: { name: "hex20", length: 20, charset: "hex", fields: ["token"] } });
    await tv.rest("PUT", "/v1/secrets/gen/api", { token, body: { data: { token: "old" }, options: { rotation_policy_id: "rot_strong-rot", secret_policy_id: "sp_hex20" } } });
    const res = await tv.rest("POST", "/v1/rotation/policies/rot_strong-rot/rotate", { token, body: { secret_paths: ["gen/api"] } });
    expect(res.body[0]).toMatchObject({ status: "success", old_version: 1, new_version: 2 });
    expect((await tv.rest("GET", "/v1/secrets/gen/api", { token })).body.data.token).toMatch(/^[0-9a-f]{20}$/);
  });

  it("refuses to delete a policy still in use, deletes it once unused", async () => {
    const used = await tv.rest("DELETE", "/v1/secret-policies/sp_strong", { token });
    expect(used.status).toBe(400);
    expect(used.body.error).toMatchObject({ code: "invalid_request", message: expect.stringMatching(/rot_strong-rot/) });
    const bySecret = await tv.rest("DELETE", "/v1/secret-policies/sp_hex20", { token });
    expect(bySecret.body.error.message).toMatch(/gen\/api/);
    const unused = await tv.rest("DELETE", "/v1/secret-policies/sp_pin", { token });
    expect(unused.status).toBe(200);
    expect(unused.body).toEqual({ id: "sp_pin", deleted: true });
    expect((await tv.rest("GET", "/v1/secret-policies/sp_pin", { token })).status).toBe(404);
  });
});
