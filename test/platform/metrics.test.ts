import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { testDatabaseKind } from "../support/database.js";
import { grpcClient, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";

/** The value of one sample line of the exposition text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    const labelText = line.startsWith(name + "{") ? line.slice(name.length + 1, line.indexOf("}")) : "";
    const have = labelText ? labelText.split(",") : [];
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

describe("/metrics on the service's port", () => {
  const clock = createManualClock("2026-01-01T00:00:00Z");
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault({ clock, env: { SCAIVAULT_SCHEDULER_ENABLED: "false" } });
    token = await tv.token({ tenantId: "metrics", scopes: ["admin"] });
  });
  afterAll(async () => tv?.close());

  const scrape = async () => {
    const res = await fetch(`${tv.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  it("counts and times calls by procedure, protocol and contract code", async () => {
    const get = "scaivault.v1.SecretsService/GetSecret";
    expect((await tv.rest("GET", "/v1/secrets/nope/a", { token })).status).toBe(404);
    expect((await tv.rest("GET", "/v1/secrets/nope/b", { token })).status).toBe(404);
    const connect = await fetch(`${tv.baseUrl}/${get}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ path: "nope/c" }) });
    expect(connect.status).toBe(404);
    const client = grpcClient(tv.port, "SecretsService", "secrets.proto");
    await expect(unary(client, "GetSecret", { path: "nope/d" }, token)).rejects.toMatchObject({ code: 5 });
    await expect(unary(client, "GetSecret", { path: "nope/e" })).rejects.toMatchObject({ code: 16 });
    client.close();

    const text = await scrape();
    expect(sample(text, "scaivault_calls_total", { procedure: get, protocol: "rest", code: "secret_not_found" })).toBe(2);
    expect(sample(text, "scaivault_calls_total", { procedure: get, protocol: "connect", code: "secret_not_found" })).toBe(1);
    expect(sample(text, "scaivault_calls_total", { procedure: get, protocol: "grpc", code: "secret_not_found" })).toBe(1);
    expect(sample(text, "scaivault_calls_total", { procedure: get, protocol: "grpc", code: "unauthenticated" })).toBe(1);
    expect(sample(text, "scaivault_call_duration_seconds_count", { procedure: get, protocol: "rest" })).toBe(2);
    expect(sample(text, "scaivault_call_duration_seconds_bucket", { procedure: get, protocol: "rest", le: "+Inf" })).toBe(2);
  });

  it("reports the read cache's hit ratio, the outbox and (on PostgreSQL) the pool", async () => {
    const before = await scrape();
    const hitsBefore = sample(before, "scaivault_read_cache_lookups", { result: "hit" })!;
    const missesBefore = sample(before, "scaivault_read_cache_lookups", { result: "miss" })!;
    expect((await tv.rest("PUT", "/v1/secrets/cached/one", { token, body: { data: { password: "p" } } })).status).toBe(201);
    // The first read misses and fills the cache; later ones are answered from it, unless the PUT's
    // own change notice arrives in between and empties it (it comes asynchronously): so at least one
    // miss, at least one hit, and every read counted once.
    for (let i = 0; i < 3; i++) expect((await tv.rest("GET", "/v1/secrets/cached/one", { token })).status).toBe(200);

    const text = await scrape();
    const hits = sample(text, "scaivault_read_cache_lookups", { result: "hit" })! - hitsBefore;
    const misses = sample(text, "scaivault_read_cache_lookups", { result: "miss" })! - missesBefore;
    expect(hits).toBeGreaterThanOrEqual(1);
    expect(misses).toBeGreaterThanOrEqual(1);
    expect(hits + misses).toBe(3);
    const ratio = sample(text, "scaivault_read_cache_hit_ratio")!;
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThan(1);
    // The webhook worker runs on its own timer, so the outbox's depth at this moment is not fixed; the gauges are there.
    expect(Number.isFinite(sample(text, "scaivault_outbox_undispatched_events")!)).toBe(true);
    expect(Number.isFinite(sample(text, "scaivault_webhook_delivery_lag_seconds")!)).toBe(true);
    if (testDatabaseKind === "postgres") expect(sample(text, "scaivault_db_pool_connections", { state: "max" })).toBe(10);
    else expect(sample(text, "scaivault_db_pool_connections", { state: "max" })).toBeUndefined();
  });

  it("counts scheduled rotations by provider and status", async () => {
    expect((await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "daily", interval: "24h", auto_generate: true } })).status).toBe(201);
    await tv.rest("PUT", "/v1/secrets/rotated/a", { token, body: { data: { password: "x" }, options: { rotation_policy_id: "rot_daily" } } });
    await tv.rest("PUT", "/v1/secrets/rotated/b", { token, body: { data: { password: "y" }, options: { rotation_policy_id: "rot_daily" } } });
    expect(sample(await scrape(), "scaivault_rotation_runs_total", { provider: "generated", status: "success" })).toBeUndefined();
    clock.advance(25 * 3600 * 1000);
    expect((await tv.vault.scheduler.runSchedulerTick()).rotated).toBe(2);
    expect(sample(await scrape(), "scaivault_rotation_runs_total", { provider: "generated", status: "success" })).toBe(2);
  });
});

describe("SCAIVAULT_METRICS", () => {
  it("off: no /metrics anywhere", async () => {
    const tv = await startTestVault({ env: { SCAIVAULT_METRICS: "off" } });
    try {
      expect((await fetch(`${tv.baseUrl}/metrics`)).status).toBe(404);
      expect(tv.vault.metricsPort).toBeUndefined();
    } finally {
      await tv.close();
    }
  });

  it("a port: /metrics there and not on the service's port", async () => {
    const tv = await startTestVault({ env: { SCAIVAULT_METRICS: "0" } });
    try {
      expect((await fetch(`${tv.baseUrl}/metrics`)).status).toBe(404);
      const port = tv.vault.metricsPort!;
      expect(port).toBeGreaterThan(0);
      expect(port).not.toBe(tv.port);
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("# TYPE scaivault_calls_total counter");
    } finally {
      await tv.close();
    }
  });
});
