import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

const SF = "environments/production/salesforce/api-credentials";

describe("secrets over REST: the guide's examples", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "acme", scopes: ["admin", "audit:read"] });
  });
  afterAll(async () => tv?.close());

  it("writes a new secret with the guide's curl body: 201 and the documented fields", async () => {
    const res = await tv.rest("PUT", `/v1/secrets/${SF}`, {
      token,
      body: {
        data: { client_id: "3MVG9...", client_secret: "REDACTED" },
        secret_type: "json",
        metadata: { description: "Salesforce OAuth credentials", tags: ["salesforce", "oauth", "production"] },
        options: { max_versions: 10, expires_in: "90d" },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ path: SF, secret_type: "json", version: 1, created: true });
    expect(res.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const ttl = Date.parse(res.body.expires_at) - Date.parse(res.body.created_at);
    expect(ttl).toBe(90 * 86400 * 1000);
  });

  it("updates with the Python-shaped body: 200 with previous_version", async () => {
    const res = await tv.rest("PUT", `/v1/secrets/${SF}`, {
      token,
      body: { data: { client_id: "3MVG9...", client_secret: "REDACTED2" }, secret_type: "json", metadata: { tags: ["salesforce", "production"] }, options: { max_versions: 10 } },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ path: SF, version: 2, created: false, previous_version: 1 });
    expect(res.body.updated_at).toBeTruthy();
  });

  it("reads the current version and a specific one", async () => {
    const cur = await tv.rest("GET", `/v1/secrets/${SF}`, { token });
    expect(cur.status).toBe(200);
    expect(cur.body).toMatchObject({ path: SF, version: 2, secret_type: "json", data: { client_id: "3MVG9...", client_secret: "REDACTED2" } });
    expect(cur.body.metadata.tags).toEqual(["salesforce", "production"]);
    expect(cur.body.metadata.description).toBe("Salesforce OAuth credentials");
    const v1 = await tv.rest("GET", `/v1/secrets/${SF}?version=1`, { token });
    expect(v1.status).toBe(200);
    expect(v1.body.version).toBe(1);
    expect(v1.body.data.client_secret).toBe("REDACTED");
    const v9 = await tv.rest("GET", `/v1/secrets/${SF}?version=9`, { token });
    expect(v9.status).toBe(404);
    expect(v9.body.error.code).toBe("version_not_found");
  });

  it("accepts the path with its slashes URL-encoded, as some clients send it", async () => {
    const res = await tv.rest("GET", `/v1/secrets/${encodeURIComponent(SF)}`, { token });
    expect(res.status).toBe(200);
    expect(res.body.path).toBe(SF);
  });

  it("renders expires_at as null when a secret has no expiry", async () => {
    await tv.rest("PUT", "/v1/secrets/app/db/password", { token, body: { data: { password: "pw1" } } });
    const res = await tv.rest("GET", "/v1/secrets/app/db/password", { token });
    expect(res.body.expires_at).toBeNull();
    expect(res.body.secret_type).toBe("kv");
  });

  it("patches metadata without creating a version, and returns the metadata object", async () => {
    const res = await tv.rest("PATCH", "/v1/secrets/app/db/password", {
      token,
      body: { metadata: { tags: ["postgres", "production", "critical"] }, options: { max_versions: 25 } },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ path: "app/db/password", current_version: 1, version_count: 1 });
    expect(res.body.metadata.tags).toEqual(["postgres", "production", "critical"]);
    const versions = await tv.rest("GET", "/v1/secrets/app/db/password/versions", { token });
    expect(versions.body.versions).toHaveLength(1);
  });

  it("lists versions newest first with is_current", async () => {
    await tv.rest("PUT", "/v1/secrets/app/db/password", { token, body: { data: { password: "pw2" } } });
    await tv.rest("PUT", "/v1/secrets/app/db/password", { token, body: { data: { password: "pw3" } } });
    const res = await tv.rest("GET", "/v1/secrets/app/db/password/versions", { token });
    expect(res.status).toBe(200);
    expect(res.body.path).toBe("app/db/password");
    expect(res.body.versions.map((v: any) => [v.version, v.is_current])).toEqual([
      [3, true],
      [2, false],
      [1, false],
    ]);
  });

  it("reads metadata with access counts and rotation_policy null", async () => {
    await tv.rest("GET", "/v1/secrets/app/db/password", { token });
    await tv.rest("GET", "/v1/secrets/app/db/password", { token });
    const res = await tv.rest("GET", "/v1/secrets/metadata/app/db/password", { token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ path: "app/db/password", current_version: 3, version_count: 3, rotation_policy: null });
    expect(res.body.access_count_30d).toBeGreaterThanOrEqual(2);
    expect(res.body.last_accessed_at).toBeTruthy();
  });

  it("lists with the guide's prefix filter and minimal rows", async () => {
    const res = await tv.rest("GET", "/v1/secrets?prefix=environments/production/&limit=50", { token });
    expect(res.status).toBe(200);
    expect(res.body.total_count).toBe(1);
    expect(res.body.has_more).toBe(false);
    expect(res.body.cursor).toBeNull();
    expect(res.body.secrets[0]).toEqual({
      path: SF,
      secret_type: "json",
      version: 2,
      updated_at: expect.any(String),
      expires_at: expect.any(String),
      tags: ["salesforce", "production"],
    });
  });

  it("soft-deletes, refuses a write in the window, restores and reads again", async () => {
    await tv.rest("PUT", "/v1/secrets/tmp/soft", { token, body: { data: { k: "v" } } });
    const del = await tv.rest("DELETE", "/v1/secrets/tmp/soft", { token });
    expect(del.status).toBe(200);
    expect((await tv.rest("GET", "/v1/secrets/tmp/soft", { token })).body.error.code).toBe("secret_not_found");
    const write = await tv.rest("PUT", "/v1/secrets/tmp/soft", { token, body: { data: { k: "v2" } } });
    expect(write.status).toBe(409);
    expect(write.body.error.code).toBe("secret_exists");
    const restore = await tv.rest("POST", "/v1/secrets/tmp/soft/restore", { token });
    expect(restore.status).toBe(200);
    const read = await tv.rest("GET", "/v1/secrets/tmp/soft", { token });
    expect(read.body.data).toEqual({ k: "v" });
  });

  it("destroys one non-current version, refuses the current one", async () => {
    const del = await tv.rest("DELETE", "/v1/secrets/app/db/password?version=2", { token });
    expect(del.status).toBe(200);
    const read = await tv.rest("GET", "/v1/secrets/app/db/password?version=2", { token });
    expect(read.body.error.code).toBe("version_not_found");
    const cur = await tv.rest("DELETE", "/v1/secrets/app/db/password?version=3", { token });
    expect(cur.status).toBe(400);
  });

  it("hard-deletes with admin and leaves no ciphertext row", async () => {
    await tv.rest("PUT", "/v1/secrets/tmp/hard", { token, body: { data: { k: "v" } } });
    const writer = await tv.token({ tenantId: "acme", scopes: ["secrets:delete"] });
    const denied = await tv.rest("DELETE", "/v1/secrets/tmp/hard?permanent=true", { token: writer });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("access_denied");
    const res = await tv.rest("DELETE", "/v1/secrets/tmp/hard?permanent=true", { token });
    expect(res.status).toBe(200);
    const rows = await tv.vault.db
      .selectFrom("secrets")
      .innerJoin("secret_versions", "secret_versions.secret_id", "secrets.id")
      .select("secret_versions.version")
      .where("secrets.path", "=", "tmp/hard")
      .execute();
    expect(rows).toHaveLength(0);
    // the path is free again
    expect((await tv.rest("PUT", "/v1/secrets/tmp/hard", { token, body: { data: { k: "new" } } })).status).toBe(201);
  });

  it("rotates with the guide's body and keeps the old version for the grace period", async () => {
    const res = await tv.rest("POST", "/v1/secrets/app/db/password/rotate", {
      token,
      body: { reason: "Suspected compromise", new_value: { password: "new-strong-password" }, grace_period: "1h" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ path: "app/db/password", version: 4, previous_version: 3 });
    expect(Date.parse(res.body.previous_version_readable_until) - Date.parse(res.body.rotated_at)).toBe(3600_000);
    expect((await tv.rest("GET", "/v1/secrets/app/db/password?version=3", { token })).status).toBe(200);
    const missing = await tv.rest("POST", "/v1/secrets/app/db/password/rotate", { token, body: { reason: "x" } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe("invalid_request");
    expect(missing.body.error.message).toContain("new_value");
  });

  it("finds expiring secrets with days_remaining", async () => {
    await tv.rest("PUT", "/v1/secrets/test/oauth-token", { token, body: { data: { t: "x" }, options: { expires_in: "9d" } } });
    const res = await tv.rest("GET", "/v1/secrets/expiring?days=30", { token });
    expect(res.status).toBe(200);
    const item = res.body.secrets.find((s: any) => s.path === "test/oauth-token");
    expect(item.days_remaining).toBe(9);
    expect(res.body.secrets.find((s: any) => s.path === SF)).toBeUndefined();
  });

  it("check-and-set: cas 0 creates only, a stale cas conflicts", async () => {
    expect((await tv.rest("PUT", "/v1/secrets/cas/x", { token, body: { data: { a: 1 }, options: { cas: 0 } } })).status).toBe(201);
    const again = await tv.rest("PUT", "/v1/secrets/cas/x", { token, body: { data: { a: 2 }, options: { cas: 0 } } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("version_conflict");
    expect((await tv.rest("PUT", "/v1/secrets/cas/x", { token, body: { data: { a: 2 }, options: { cas: 1 } } })).status).toBe(200);
    expect((await tv.rest("PUT", "/v1/secrets/cas/x", { token, body: { data: { a: 3 }, options: { cas: 1 } } })).body.error.code).toBe("version_conflict");
  });

  it("max_versions destroys the oldest versions", async () => {
    for (let i = 0; i < 4; i++) await tv.rest("PUT", "/v1/secrets/cap/x", { token, body: { data: { i }, options: { max_versions: 2 } } });
    const res = await tv.rest("GET", "/v1/secrets/cap/x/versions", { token });
    expect(res.body.versions.map((v: any) => v.version)).toEqual([4, 3]);
    expect((await tv.rest("GET", "/v1/secrets/cap/x?version=1", { token })).body.error.code).toBe("version_not_found");
    // One version kept: the write's own, never the ones before it.
    await tv.rest("PUT", "/v1/secrets/cap/x", { token, body: { data: { i: 4 }, options: { max_versions: 1 } } });
    expect((await tv.rest("GET", "/v1/secrets/cap/x/versions", { token })).body.versions.map((v: any) => v.version)).toEqual([5]);
    expect((await tv.rest("GET", "/v1/secrets/cap/x", { token })).body).toMatchObject({ version: 5, data: { i: 4 } });
    await tv.rest("PUT", "/v1/secrets/cap/x", { token, body: { data: { i: 5 } } });
    expect((await tv.rest("GET", "/v1/secrets/cap/x/versions", { token })).body.versions.map((v: any) => v.version)).toEqual([6]);
  });

  it("answers each error code of the guide's table", async () => {
    expect((await tv.rest("GET", "/v1/secrets/does/not/exist", { token })).body.error).toMatchObject({ code: "secret_not_found" });
    expect((await tv.rest("PUT", "/v1/secrets/bad$path/x", { token, body: { data: {} } })).body.error.code).toBe("invalid_path");
    const invalid = await tv.rest("GET", "/v1/secrets/a%20b", { token });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe("invalid_path");
    const big = await tv.rest("PUT", "/v1/secrets/big/x", { token, body: { data: { v: "x".repeat(70 * 1024) } } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("payload_too_large");
    const dur = await tv.rest("PUT", "/v1/secrets/dur/x", { token, body: { data: { a: 1 }, options: { expires_in: "soon" } } });
    expect(dur.status).toBe(400);
    expect(dur.body.error.code).toBe("invalid_duration");
    const reader = await tv.token({ tenantId: "acme", scopes: ["secrets:read"] });
    const denied = await tv.rest("PUT", "/v1/secrets/x/y", { token: reader, body: { data: { a: 1 } } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("access_denied");
    expect(denied.body.error.request_id).toBeTruthy();
  });
});
