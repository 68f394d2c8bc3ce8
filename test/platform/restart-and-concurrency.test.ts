import { afterAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

describe("durability and concurrency", () => {
  const toClose: TestVault[] = [];
  afterAll(async () => {
    for (const tv of toClose.reverse()) await tv.close();
  });

  it("keeps data across a restart on the same database", async () => {
    const first = await startTestVault();
    toClose.push(first);
    const token = await first.token({ tenantId: "dur" });
    expect((await first.rest("PUT", "/v1/secrets/keep/me", { token, body: { data: { v: 1 } } })).status).toBe(201);
    await first.rest("GET", "/v1/secrets/keep/me", { token });
    await first.stop();
    const second = await startTestVault({ reuse: { dataDir: first.dataDir, databaseUrl: first.databaseUrl } });
    try {
      const res = await second.rest("GET", "/v1/secrets/keep/me", { token });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ v: 1 });
      const meta = await second.rest("GET", "/v1/secrets/metadata/keep/me", { token });
      // the read before the restart was flushed on graceful shutdown
      expect(meta.body.access_count_30d).toBeGreaterThanOrEqual(2);
    } finally {
      await second.stop();
    }
  });

  it("50 concurrent writers to one path produce 50 consecutive versions", async () => {
    // 50 writers queue on one row lock; the statement deadline (a lock wait counts) is not what this
    // test is about, and a loaded test machine can make the last writer wait longer than 5 s.
    const tv = await startTestVault({ env: { SCAIVAULT_DB_POOL_SIZE: "20", SCAIVAULT_DB_STATEMENT_TIMEOUT: "60s" } });
    toClose.push(tv);
    const token = await tv.token({ tenantId: "conc" });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => tv.rest("PUT", "/v1/secrets/hot/path", { token, body: { data: { writer: i }, options: { max_versions: 100 } } })),
    );
    expect(results.map((r) => r.status).filter((s) => s !== 200 && s !== 201)).toEqual([]);
    const versions = results.map((r) => r.body.version).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(results.filter((r) => r.body.created).length).toBe(1);
    const listed = await tv.rest("GET", "/v1/secrets/hot/path/versions", { token });
    expect(listed.body.versions).toHaveLength(50);
    const writers = new Set<number>();
    for (let v = 1; v <= 50; v++) writers.add((await tv.rest("GET", `/v1/secrets/hot/path?version=${v}`, { token })).body.data.writer);
    expect(writers.size).toBe(50);
  });
});
