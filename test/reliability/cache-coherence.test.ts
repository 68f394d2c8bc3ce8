// Read caches across replicas when the LISTEN connection that feeds them drops or goes silent.
// What must hold: a replica never answers from its cache a version older than one written through
// another replica after its notices stopped arriving. While its listening connection is down, and
// until it has listened again, it reads through to the database; when the connection goes silent
// (a partition that drops packets) it does so within 1.5 heartbeats. PostgreSQL only (the embedded
// database is one process, nothing to drop); fails, not skips, in the PostgreSQL run without one.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createSecretReadCache } from "../../src/secrets/secret-read-cache.js";
import { listenerApplicationName } from "../../src/db/shared-listener.js";
import { testDatabaseKind } from "../support/database.js";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { startTestVault, type TestVault } from "../support/vault.js";

describe("the read cache follows its notices' health", () => {
  it("neither answers nor stores while notices are not known to arrive", () => {
    let coherent = true;
    const cache = createSecretReadCache(10, () => coherent);
    const entry = { secret: { id: 1 } as never, versions: new Map() };
    cache.put("t", "a", entry, cache.generation());
    expect(cache.get("t", "a")).toBe(entry);
    coherent = false;
    expect(cache.get("t", "a")).toBeUndefined();
    cache.put("t", "b", { secret: { id: 2 } as never, versions: new Map() }, cache.generation());
    coherent = true;
    expect(cache.get("t", "b")).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 1, bypassed: 1 });
  });
});

describe.runIf(testDatabaseKind === "postgres")("cache coherence across replicas (PostgreSQL)", () => {
  let a: TestVault;
  let b: TestVault;
  let admin: pg.Client;
  let token: string;

  beforeAll(async () => {
    a = await startTestVault();
    b = await startTestVault({ reuse: { dataDir: a.dataDir, databaseUrl: a.databaseUrl } });
    admin = new pg.Client({ connectionString: a.databaseUrl });
    await admin.connect();
    token = await a.token({ tenantId: "coherence", scopes: ["secrets:read", "secrets:write"] });
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await b?.close();
    await a?.close();
  });

  const versionVia = async (v: TestVault, path: string) => {
    const res = await v.rest("GET", `/v1/secrets/${path}`, { token });
    return res.status === 200 ? (res.body.data.n as number) : res.status;
  };

  it("reads through while the listening connection is cut (pg_terminate_backend), 20 rounds without a stale read", async () => {
    const stale: string[] = [];
    for (let round = 1; round <= 20; round++) {
      // Both replicas listen again (the last round cut them).
      await vi.waitFor(() => expect([a.vault.database.coherent(), b.vault.database.coherent()]).toEqual([true, true]), { timeout: 10_000, interval: 20 });
      const path = `app/round-${round}`;
      expect((await b.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { n: 1 } } })).status).toBe(201);
      expect(await versionVia(a, path)).toBe(1);
      // Cut every replica's listening connection and wait until the backends are gone.
      const { rows } = await admin.query(
        `select pg_terminate_backend(pid, 5000) as gone from pg_stat_activity where datname = current_database() and application_name = $1`,
        [listenerApplicationName],
      );
      expect(rows.length).toBe(2);
      // A reads while it cannot hear notices (what it reads must not stay), then B writes.
      expect(await versionVia(a, path)).toBe(1);
      expect((await b.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { n: 2 } } })).status).toBe(200);
      const seen = await versionVia(a, path);
      if (seen !== 2) stale.push(`round ${round}: ${seen}`);
    }
    expect(stale).toEqual([]);
    expect(a.vault.readCache.stats().bypassed).toBeGreaterThan(0);
  }, 120_000);

  it("never answers from its cache a version older than one acknowledged by another replica before the read began (no waiting for the notice)", async () => {
    const stale: string[] = [];
    const path = "app/read-after-ack";
    expect((await b.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { n: 1 }, options: { max_versions: 100 } } })).status).toBe(201);
    const hitsBefore = a.vault.readCache.stats().hits;
    for (let n = 2; n <= 60; n++) {
      expect(await versionVia(a, path)).toBe(n - 1); // cached by A (after the first round, from its cache)
      expect(await versionVia(a, path)).toBe(n - 1);
      // B acknowledges; A reads at once, before the trigger's notice has (most likely) reached it.
      expect((await b.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { n } } })).status).toBe(200);
      const seen = await versionVia(a, path);
      if (seen !== n) stale.push(`write ${n}: read ${seen}`);
    }
    expect(stale).toEqual([]);
    // The cache still answered the repeated reads: checked against the row's stamp, not bypassed.
    expect(a.vault.readCache.stats().hits - hitsBefore).toBeGreaterThan(50);
  }, 120_000);

  describe("a replica behind a partition that drops packets silently", () => {
    let proxy: FaultProxy;
    let partitioned: TestVault;
    beforeAll(async () => {
      const url = new URL(a.databaseUrl!);
      proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) });
      partitioned = await startTestVault({
        reuse: { dataDir: a.dataDir, databaseUrl: proxy.urlFor(a.databaseUrl!) },
        env: { SCAIVAULT_DB_STATEMENT_TIMEOUT: "1s", SCAIVAULT_DB_CONNECT_TIMEOUT: "1s", SCAIVAULT_DB_LISTEN_HEARTBEAT: "1s" },
      });
    }, 120_000);
    afterAll(async () => {
      proxy?.thaw();
      await partitioned?.close();
      await proxy?.close();
    });

    it("reads through within 1.5 heartbeats of its LISTEN connection going silent, and is coherent again on a new one", async () => {
      const path = "app/partitioned";
      expect((await b.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { n: 1 } } })).status).toBe(201);
      expect(await versionVia(partitioned, path)).toBe(1);
      expect(await versionVia(partitioned, path)).toBe(1); // from its cache

      // Only the listening connection goes silent; the pool still reaches the database.
      expect(proxy.freezeWhere(listenerApplicationName)).toBe(1);
      const frozenAt = Date.now();
      expect((await b.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { n: 2 } } })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1_600 - (Date.now() - frozenAt)));
      const during: (number | string)[] = [];
      for (let i = 0; i < 3; i++) during.push(await versionVia(partitioned, path));
      expect(during).toEqual([2, 2, 2]);

      // The silent connection is replaced (after two heartbeats) and the cache serves again, fed by notices.
      await vi.waitFor(() => expect(partitioned.vault.database.coherent()).toBe(true), { timeout: 10_000, interval: 50 });
      expect(await versionVia(partitioned, path)).toBe(2);
      const hitsBefore = partitioned.vault.readCache.stats().hits;
      expect(await versionVia(partitioned, path)).toBe(2);
      expect(partitioned.vault.readCache.stats().hits).toBe(hitsBefore + 1);
      expect((await b.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { n: 3 } } })).status).toBe(200);
      await vi.waitFor(async () => expect(await versionVia(partitioned, path)).toBe(3), { timeout: 5_000, interval: 50 });
      expect(proxy.stats().faults).toBe(1);
    }, 60_000);
  });
});
