import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the read path's ciphertext cache", () => {
  const open: TestVault[] = [];
  afterAll(async () => {
    for (const tv of open.reverse()) await tv.close();
  });

  it("serves repeated reads from memory and still audits every read", async () => {
    const tv = await startTestVault();
    open.push(tv);
    const token = await tv.token({ tenantId: "cache" });
    await tv.rest("PUT", "/v1/secrets/c/one", { token, body: { data: { v: 1 } } });
    const reads = await Promise.all(Array.from({ length: 40 }, () => tv.rest("GET", "/v1/secrets/c/one", { token })));
    expect(reads.every((r) => r.status === 200 && r.body.data.v === 1)).toBe(true);
    expect(tv.vault.readCache.size()).toBeGreaterThanOrEqual(1);
    const audit = await tv.vault.db
      .selectFrom("audit_events")
      .select(({ fn }) => fn.countAll<number>().as("n"))
      .where("action", "=", "GetSecret")
      .where("path", "=", "c/one")
      .executeTakeFirstOrThrow();
    expect(Number(audit.n)).toBe(40);
    // a write through this replica is visible to the very next read
    await tv.rest("PUT", "/v1/secrets/c/one", { token, body: { data: { v: 2 } } });
    expect((await tv.rest("GET", "/v1/secrets/c/one", { token })).body.data.v).toBe(2);
    await tv.rest("DELETE", "/v1/secrets/c/one", { token });
    expect((await tv.rest("GET", "/v1/secrets/c/one", { token })).status).toBe(404);
  });

  it("drops entries when a change is made by anyone else (SQL or another replica)", async () => {
    const a = await startTestVault();
    open.push(a);
    const token = await a.token({ tenantId: "cache2" });
    await a.rest("PUT", "/v1/secrets/c/two", { token, body: { data: { v: 1 }, options: { max_versions: 5 } } });
    await a.rest("PUT", "/v1/secrets/c/two", { token, body: { data: { v: 2 } } });
    expect((await a.rest("GET", "/v1/secrets/c/two?version=1", { token })).status).toBe(200);
    // an operator destroys version 1 behind the API's back: the trigger's notice reaches the cache
    await a.vault.db.deleteFrom("secret_versions").where("version", "=", 1).execute();
    const gone = await eventually(() => a.rest("GET", "/v1/secrets/c/two?version=1", { token }), (r) => r.status === 404);
    expect(gone.status).toBe(404);

    if (testDatabaseKind === "postgres") {
      const b = await startTestVault({ reuse: { dataDir: a.dataDir, databaseUrl: a.databaseUrl } });
      open.push(b);
      expect((await b.rest("GET", "/v1/secrets/c/two", { token })).body.data.v).toBe(2);
      await a.rest("PUT", "/v1/secrets/c/two", { token, body: { data: { v: 3 } } });
      const seen = await eventually(() => b.rest("GET", "/v1/secrets/c/two", { token }), (r) => r.body.data?.v === 3);
      expect(seen.body.data.v).toBe(3);
      await b.stop();
    }
  });
});

describe("the read path with its caches and group commit turned off", () => {
  it("still serves, audits and counts every read (SCAIVAULT_SECRET_CACHE_ENTRIES=0, TOKEN_CACHE_ENTRIES=0, AUDIT_BATCH_MAX=1)", async () => {
    const tv = await startTestVault({
      env: { SCAIVAULT_SECRET_CACHE_ENTRIES: "0", SCAIVAULT_TOKEN_CACHE_ENTRIES: "0", SCAIVAULT_AUDIT_BATCH_MAX: "1" },
    });
    try {
      const token = await tv.token({ tenantId: "nocache" });
      await tv.rest("PUT", "/v1/secrets/n/one", { token, body: { data: { v: 1 } } });
      const reads = await Promise.all(Array.from({ length: 20 }, () => tv.rest("GET", "/v1/secrets/n/one", { token })));
      expect(reads.every((r) => r.status === 200 && r.body.data.v === 1)).toBe(true);
      expect(tv.vault.readCache.size()).toBe(0);
      const audit = await tv.vault.db
        .selectFrom("audit_events")
        .select(({ fn }) => fn.countAll<number>().as("n"))
        .where("action", "=", "GetSecret")
        .where("path", "=", "n/one")
        .executeTakeFirstOrThrow();
      expect(Number(audit.n)).toBe(20);
      // A new version is read at once (nothing cached to drop).
      await tv.rest("PUT", "/v1/secrets/n/one", { token, body: { data: { v: 2 } } });
      expect((await tv.rest("GET", "/v1/secrets/n/one", { token })).body.data.v).toBe(2);
    } finally {
      await tv.close();
    }
  });
});

describe("the stamp checks of cached reads (PostgreSQL: several replicas may write)", () => {
  it("groups concurrent checks into few statements and answers each one for its own row", async () => {
    const { createStampChecker } = await import("../../src/secrets/stamp-checker.js");
    const tv = await startTestVault();
    try {
      const token = await tv.token({ tenantId: "stamps" });
      for (const p of ["s/a", "s/b"]) {
        await tv.rest("PUT", `/v1/secrets/${p}`, { token, body: { data: { v: 1 } } });
        await tv.rest("PUT", `/v1/secrets/${p}`, { token, body: { data: { v: 2 } } });
      }
      const ids = await tv.vault.db.selectFrom("secrets").select(["id", "path"]).where("tenant_id", "=", "stamps").orderBy("path").execute();
      const [a, b] = ids.map((r) => Number(r.id));
      const checker = createStampChecker(tv.vault.db);
      const asked = [
        { secretId: a, version: undefined },
        { secretId: b, version: 1 },
        { secretId: a, version: 9 },
        { secretId: 987654321, version: undefined },
        ...Array.from({ length: 60 }, (_, i) => ({ secretId: i % 2 ? a : b, version: undefined })),
      ];
      const answers = await Promise.all(asked.map((c) => checker.check(c.secretId, c.version)));
      const secretStamp = async (id: number) => (await tv.vault.db.selectFrom("secrets").select(sql<string>`xmin::text`.as("s")).where("id", "=", id).executeTakeFirstOrThrow()).s;
      const versionStamp = async (id: number, v: number) =>
        (await tv.vault.db.selectFrom("secret_versions").select(sql<string>`xmin::text`.as("s")).where("secret_id", "=", id).where("version", "=", v).executeTakeFirstOrThrow()).s;
      expect(answers[0]).toEqual({ secret: await secretStamp(a), version: await versionStamp(a, 2) });
      expect(answers[1]).toEqual({ secret: await secretStamp(b), version: await versionStamp(b, 1) });
      expect(answers[2]).toEqual({ secret: await secretStamp(a), version: null });
      expect(answers[3]).toBeUndefined();
      expect(answers.slice(4).every((x) => x !== undefined && x.version !== null)).toBe(true);
      const { statements, checks } = checker.stats();
      expect(checks).toBe(asked.length);
      // the first check runs alone; the others asked meanwhile share a statement or a few
      expect(statements).toBeLessThanOrEqual(3);
      // a write after the checks gives the secret row a new stamp, seen by the next check
      await tv.rest("PUT", "/v1/secrets/s/a", { token, body: { data: { v: 3 } } });
      const after = await checker.check(a, undefined);
      expect(after?.secret).not.toBe(answers[0]?.secret);
      expect(after?.version).toBe(await versionStamp(a, 3));
    } finally {
      await tv.close();
    }
  });
});
