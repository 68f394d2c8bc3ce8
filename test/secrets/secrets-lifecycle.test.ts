import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startTestVault, type TestVault } from "../support/vault.js";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe("secrets over time (injected clock)", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault({ clock, env: { SCAIVAULT_SOFT_DELETE_RETENTION: "30d" } });
    token = await tv.token({ tenantId: "time", ttlSeconds: 400 * 86400 });
  });
  afterAll(async () => tv?.close());

  it("keeps the previous version readable for the grace period, then version_not_found", async () => {
    await tv.rest("PUT", "/v1/secrets/grace/x", { token, body: { data: { pw: "old" } } });
    const rot = await tv.rest("POST", "/v1/secrets/grace/x/rotate", { token, body: { reason: "test", new_value: { pw: "new" }, grace_period: "1h" } });
    expect(rot.body.previous_version_readable_until).toBe("2026-04-23T15:00:00Z");
    clock.advance(59 * 60_000);
    expect((await tv.rest("GET", "/v1/secrets/grace/x?version=1", { token })).body.data).toEqual({ pw: "old" });
    clock.advance(2 * 60_000);
    const gone = await tv.rest("GET", "/v1/secrets/grace/x?version=1", { token });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("version_not_found");
    expect((await tv.rest("GET", "/v1/secrets/grace/x", { token })).body.data).toEqual({ pw: "new" });
    const versions = await tv.rest("GET", "/v1/secrets/grace/x/versions", { token });
    expect(versions.body.versions.map((v: any) => v.version)).toEqual([2]);
  });

  it("gives concurrent writes and rotations of one secret distinct, consecutive versions", async () => {
    await tv.rest("PUT", "/v1/secrets/race/x", { token, body: { data: { n: 0 } } });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 3 === 2
          ? tv.rest("POST", "/v1/secrets/race/x/rotate", { token, body: { reason: "race", new_value: { n: i + 1 } } })
          : tv.rest("PUT", "/v1/secrets/race/x", { token, body: { data: { n: i + 1 } } }),
      ),
    );
    expect(answers.map((a) => a.status).filter((s) => s !== 200)).toEqual([]);
    const written = answers.map((a) => a.body.version ?? a.body.new_version).sort((a: number, b: number) => a - b);
    expect(written).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    expect((await tv.rest("GET", "/v1/secrets/race/x", { token })).body.version).toBe(13);
  });

  it("answers secret_expired (410) after expires_at and hides it from lists unless include_expired", async () => {
    await tv.rest("PUT", "/v1/secrets/exp/soon", { token, body: { data: { a: 1 }, options: { expires_in: "24h" } } });
    expect((await tv.rest("GET", "/v1/secrets/exp/soon", { token })).status).toBe(200);
    clock.advance(DAY + 1000);
    const res = await tv.rest("GET", "/v1/secrets/exp/soon", { token });
    expect(res.status).toBe(410);
    expect(res.body.error.code).toBe("secret_expired");
    expect((await tv.rest("GET", "/v1/secrets?prefix=exp/", { token })).body.total_count).toBe(0);
    expect((await tv.rest("GET", "/v1/secrets?prefix=exp/&include_expired=true", { token })).body.total_count).toBe(1);
  });

  it("expires_at in the options works and cannot be combined with expires_in", async () => {
    const at = new Date(clock.now().getTime() + 5 * DAY).toISOString();
    const ok = await tv.rest("PUT", "/v1/secrets/exp/at", { token, body: { data: { a: 1 }, options: { expires_at: at } } });
    expect(ok.status).toBe(201);
    expect(Date.parse(ok.body.expires_at)).toBe(Date.parse(at));
    const both = await tv.rest("PUT", "/v1/secrets/exp/both", { token, body: { data: { a: 1 }, options: { expires_at: at, expires_in: "1d" } } });
    expect(both.status).toBe(400);
  });

  it("purges soft-deleted secrets after the retention window; restore refuses after it", async () => {
    await tv.rest("PUT", "/v1/secrets/purge/me", { token, body: { data: { a: 1 } } });
    await tv.rest("DELETE", "/v1/secrets/purge/me", { token });
    clock.advance(29 * DAY);
    expect(await tv.vault.secrets.purgeExpiredDeletes()).toBe(0);
    clock.advance(2 * DAY);
    expect((await tv.rest("POST", "/v1/secrets/purge/me/restore", { token })).body.error.code).toBe("secret_not_found");
    expect(await tv.vault.secrets.purgeExpiredDeletes()).toBeGreaterThanOrEqual(1);
    const row = await tv.vault.db.selectFrom("secrets").select("id").where("path", "=", "purge/me").executeTakeFirst();
    expect(row).toBeUndefined();
    expect((await tv.rest("PUT", "/v1/secrets/purge/me", { token, body: { data: { a: 2 } } })).status).toBe(201);
  });

  it("filters lists by repeated tags, type, expires_before, updated_after, and includes metadata on request", async () => {
    const t0 = clock.now();
    await tv.rest("PUT", "/v1/secrets/f/one", { token, body: { data: { a: 1 }, secret_type: "api_key", metadata: { tags: ["red", "blue"] }, options: { expires_in: "10d" } } });
    clock.advance(HOUR);
    const t1 = clock.now();
    await tv.rest("PUT", "/v1/secrets/f/two", { token, body: { data: { a: 1 }, metadata: { tags: ["red"], owner: "team-a", description: "two" } } });
    const q = (s: string) => tv.rest("GET", `/v1/secrets?prefix=f/&${s}`, { token }).then((r) => r.body.secrets.map((x: any) => x.path));
    expect(await q("tag=red")).toEqual(["f/one", "f/two"]);
    expect(await q("tag=red&tag=blue")).toEqual(["f/one"]);
    expect(await q("secret_type=api_key")).toEqual(["f/one"]);
    expect(await q(`expires_before=${new Date(t0.getTime() + 11 * DAY).toISOString()}`)).toEqual(["f/one"]);
    expect(await q(`updated_after=${new Date(t1.getTime() - 1000).toISOString()}`)).toEqual(["f/two"]);
    const full = await tv.rest("GET", "/v1/secrets?prefix=f/two&include_metadata=true", { token });
    expect(full.body.secrets[0].metadata).toMatchObject({ path: "f/two", current_version: 1, metadata: { owner: "team-a", description: "two" } });
    expect((await tv.rest("GET", "/v1/secrets?limit=500", { token })).status).toBe(400);
    expect((await tv.rest("GET", "/v1/secrets?cursor=%%%", { token })).status).toBe(400);
  });

  it("paginates every secret exactly once with the guide's loop, while rows are inserted between pages", async () => {
    for (let i = 0; i < 37; i++) await tv.rest("PUT", `/v1/secrets/environments/production/s${String(i).padStart(3, "0")}`, { token, body: { data: { i } } });
    const seen: string[] = [];
    let listing = (await tv.rest("GET", "/v1/secrets?prefix=environments/production/&limit=5", { token })).body;
    expect(listing.total_count).toBe(37);
    seen.push(...listing.secrets.map((s: any) => s.path));
    let inserted = 0;
    while (listing.has_more) {
      // a concurrent writer adds rows before and after the cursor
      await tv.rest("PUT", `/v1/secrets/environments/production/s${String(inserted).padStart(3, "0")}a`, { token, body: { data: {} } });
      inserted++;
      listing = (await tv.rest("GET", `/v1/secrets?prefix=environments/production/&limit=5&cursor=${listing.cursor}`, { token })).body;
      seen.push(...listing.secrets.map((s: any) => s.path));
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 0; i < 37; i++) expect(seen).toContain(`environments/production/s${String(i).padStart(3, "0")}`);
    expect(listing.cursor).toBeNull();
  });

  it("records an audit entry for every operation, with request id and never a value", async () => {
    const res = await tv.rest("PUT", "/v1/secrets/aud/x", { token, body: { data: { secret: "audit-canary-123" } }, headers: { "x-request-id": "req-aud-1" } });
    // The service generates the audited id itself; the client's is kept as client_request_id.
    const requestId = res.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    await tv.rest("GET", "/v1/secrets/aud/x", { token });
    await tv.rest("GET", "/v1/secrets/aud/missing", { token });
    const log = await tv.rest("GET", "/v1/audit/events?path=aud/x", { token });
    expect(log.status).toBe(200);
    const actions = log.body.data.map((e: any) => `${e.action}:${e.outcome}`);
    expect(actions).toEqual(["GetSecret:allowed", "PutSecret:allowed"]);
    expect(log.body.data[1]).toMatchObject({ request_id: requestId, client_request_id: "req-aud-1", actor: "tester", acting_tenant: "time", target_tenant: "time", version: 1 });
    expect(log.body.data[1].client_address).toBeTruthy();
    const missing = await tv.rest("GET", "/v1/audit/events?path=aud/missing", { token });
    expect(missing.body.data[0]).toMatchObject({ action: "GetSecret", outcome: "secret_not_found" });
    expect(JSON.stringify(log.body)).not.toContain("audit-canary");
    const reader = await tv.token({ tenantId: "time", scopes: ["secrets:read"] });
    expect((await tv.rest("GET", "/v1/audit/events", { token: reader })).status).toBe(403);
  });
});
