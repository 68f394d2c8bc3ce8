import { randomBytes } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateMasterKey } from "../../src/crypto/rekey.js";
import { silentLogger } from "../../src/log.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint } from "../rotation/credential-endpoint.js";

/** Every row of every table as text: a logical dump of the whole database. */
async function dumpDatabase(tv: TestVault): Promise<string> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(tv.vault.db);
  let out = "";
  for (const { table_name } of tables.rows) {
    const rows = await sql<{ r: string }>`select t::text as r from ${sql.table(table_name)} t`.execute(tv.vault.db);
    out += rows.rows.map((r) => r.r).join("\n");
  }
  return out;
}

async function rawFiles(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const p = join(entry.parentPath ?? (entry as any).path, entry.name);
    if ((await stat(p)).size < 64 * 1024 * 1024) out.push(await readFile(p));
  }
  return out;
}

function forms(canary: string): string[] {
  return [canary, Buffer.from(canary).toString("base64"), Buffer.from(canary).toString("hex")];
}

describe("encryption at rest", () => {
  let tv: TestVault;
  let token: string;
  const canary = `canary-${randomBytes(12).toString("hex")}`;
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SCAIVAULT_SCHEDULER_ENABLED: "false" } });
    token = await tv.token({ tenantId: "crypt" });
  });
  afterAll(async () => tv?.close());

  it("never stores, logs or returns in errors a recognisable value", async () => {
    expect((await tv.rest("PUT", "/v1/secrets/leak/a", { token, body: { data: { password: canary } } })).status).toBe(201);
    await tv.rest("PUT", "/v1/secrets/leak/a", { token, body: { data: { password: canary, again: true } } });
    await tv.rest("GET", "/v1/secrets/leak/a", { token });
    await tv.rest("POST", "/v1/secrets/leak/a/rotate", { token, body: { new_value: { password: `${canary}-r` }, grace_period: "1h" } });
    // failures carrying the value must not echo it
    const failures = [
      await tv.rest("PUT", "/v1/secrets/leak/a", { token, body: { data: { password: canary }, options: { cas: 99 } } }),
      await tv.rest("PUT", "/v1/secrets/leak//bad", { token, body: { data: { password: canary } } }),
      await tv.rest("PUT", "/v1/secrets/leak/b", { token, body: { data: { password: canary }, unknown_field: canary } }),
      await tv.rest("PUT", "/v1/secrets/leak/b", { token, body: { data: canary } }),
      await tv.rest("PUT", "/v1/secrets/leak/b", { token, body: { data: { password: canary }, options: { expires_in: canary } } }),
    ];
    for (const f of failures) {
      expect(f.status).toBeGreaterThanOrEqual(400);
      expect(f.status).toBeLessThan(500);
      expect(JSON.stringify(f.body)).not.toContain("canary-");
    }
    await tv.vault.access.flush();

    const dump = await dumpDatabase(tv);
    expect(dump.length).toBeGreaterThan(1000);
    const logs = tv.logs.join("\n");
    expect(logs).not.toBe("");
    for (const form of forms(canary)) {
      expect(dump).not.toContain(form);
      expect(logs).not.toContain(form);
    }
    expect(logs).not.toContain(token);
    if (testDatabaseKind === "embedded") {
      await tv.vault.db.executeQuery(sql`checkpoint`.compile(tv.vault.db));
      let hits = 0;
      for (const file of await rawFiles(tv.dataDir)) for (const form of forms(canary)) if (file.includes(form)) hits++;
      expect(hits).toBe(0);
    }
  });

  it("never shows, logs, audits, sends or stores in the clear a provider rotation's credentials", async () => {
    const credential = `canary-${randomBytes(12).toString("hex")}`;
    const endpoint = await startCredentialEndpoint({ secret: credential, initial: ["leak-old"] });
    try {
      expect((await tv.rest("PUT", "/v1/secrets/leak/provider", { token, body: { data: { api_key: "leak-old" } } })).status).toBe(201);
      const answers = [
        await tv.rest("PUT", "/v1/rotation/secrets/leak/provider", { token, body: { provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials: { secret: credential }, grace_period: "0s" } }),
        await tv.rest("GET", "/v1/rotation/secrets/leak/provider", { token }),
        await tv.rest("GET", "/v1/rotation/secrets", { token }),
        await tv.rest("POST", "/v1/secrets/leak/provider/rotate", { token, body: {} }),
        // failures carrying the credential must not echo it
        await tv.rest("PUT", "/v1/rotation/secrets/leak/provider", { token, body: { provider: "webhook", config: { url: "ftp://example.com" }, credentials: { secret: credential } } }),
        await tv.rest("PUT", "/v1/rotation/secrets/leak/provider", { token, body: { provider: "aws_iam", credentials: { secret_access_key: credential } } }),
        await tv.rest("PUT", "/v1/rotation/secrets/leak/provider", { token, body: { provider: "webhook", credentials: credential } }),
      ];
      expect(answers.map((a) => a.status)).toEqual([201, 200, 200, 200, 400, 400, 400]);
      expect(answers[0]!.body.has_credentials).toBe(true);
      await tv.vault.rotationRunner.runDue();
      expect(endpoint.revoked).toEqual(["leak-old"]);
      expect((await tv.rest("GET", "/v1/rotation/secrets/leak/provider/runs", { token })).body.data[0]).toMatchObject({ status: "succeeded" });
      answers.push(await tv.rest("GET", "/v1/rotation/secrets/leak/provider/runs", { token }));
      for (const a of answers) expect(JSON.stringify(a.body)).not.toContain(credential);
      const dump = await dumpDatabase(tv);
      const logs = tv.logs.join("\n");
      for (const form of forms(credential)) {
        expect(dump).not.toContain(form);
        expect(logs).not.toContain(form);
      }
      const sealed = await tv.vault.db.selectFrom("secret_rotations").select(["credentials_ciphertext"]).where("path", "=", "leak/provider").executeTakeFirstOrThrow();
      expect(sealed.credentials_ciphertext!.length).toBeGreaterThan(16);
    } finally {
      await endpoint.close();
    }
  });

  it("fails closed when a ciphertext is moved to another row", async () => {
    await tv.rest("PUT", "/v1/secrets/swap/one", { token, body: { data: { v: "one" } } });
    await tv.rest("PUT", "/v1/secrets/swap/two", { token, body: { data: { v: "two" } } });
    const ids = await tv.vault.db.selectFrom("secrets").select(["id", "path"]).where("path", "in", ["swap/one", "swap/two"]).execute();
    const one = ids.find((r) => r.path === "swap/one")!.id;
    const two = ids.find((r) => r.path === "swap/two")!.id;
    const src = await tv.vault.db.selectFrom("secret_versions").selectAll().where("secret_id", "=", one).executeTakeFirstOrThrow();
    await tv.vault.db
      .updateTable("secret_versions")
      .set({ ciphertext: src.ciphertext, nonce: src.nonce, key_id: src.key_id })
      .where("secret_id", "=", two)
      .execute();
    const res = await tv.rest("GET", "/v1/secrets/swap/two", { token });
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe("internal");
    expect(JSON.stringify(res.body)).not.toContain("one");
    expect((await tv.rest("GET", "/v1/secrets/swap/one", { token })).body.data).toEqual({ v: "one" });
  });

  it("rotating the master key re-wraps data keys and keeps every secret readable", async () => {
    const other = await tv.token({ tenantId: "crypt2" });
    for (let i = 0; i < 5; i++) await tv.rest("PUT", `/v1/secrets/rk/${i}`, { token: i % 2 ? token : other, body: { data: { i } } });
    const before = await tv.vault.db.selectFrom("data_keys").selectAll().execute();
    const versionsBefore = await tv.vault.db.selectFrom("secret_versions").select(["secret_id", "version", "ciphertext"]).execute();
    await tv.stop();
    const result = await rotateMasterKey({
      db: await (async () => {
        // use a fresh connection, as the CLI does
        const { openDatabase } = await import("../../src/db/open-database.js");
        const { loadConfig } = await import("../../src/config.js");
        const handle = await openDatabase(loadConfig({ SCAIVAULT_DATA_DIR: tv.dataDir, ...(tv.databaseUrl ? { DATABASE_URL: tv.databaseUrl } : {}) }));
        (globalThis as any).__rekeyHandle = handle;
        return handle.db;
      })(),
      config: { dataDir: tv.dataDir, masterKey: undefined },
      logger: silentLogger,
    });
    const handle = (globalThis as any).__rekeyHandle;
    const after = await handle.db.selectFrom("data_keys").selectAll().execute();
    const versionsAfter = await handle.db.selectFrom("secret_versions").select(["secret_id", "version", "ciphertext"]).execute();
    await handle.close();
    expect(result.rewrapped).toBe(before.length);
    expect(after.every((k: any) => k.master_key_id === result.to.id)).toBe(true);
    expect(Buffer.compare(Buffer.from(after[0].wrapped_key), Buffer.from(before.find((b) => b.tenant_id === after[0].tenant_id)!.wrapped_key))).not.toBe(0);
    expect(versionsAfter.map((v: any) => Buffer.from(v.ciphertext).toString("hex")).sort()).toEqual(
      versionsBefore.map((v) => Buffer.from(v.ciphertext).toString("hex")).sort(),
    );
    // restart on the same data with the new key file
    const restarted = await startTestVault({ reuse: { dataDir: tv.dataDir, databaseUrl: tv.databaseUrl } });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await restarted.rest("GET", `/v1/secrets/rk/${i}`, { token: i % 2 ? token : other });
        expect(res.body.data).toEqual({ i });
      }
      expect((await restarted.rest("GET", "/v1/secrets/leak/a", { token })).status).toBe(200);
    } finally {
      await restarted.stop();
    }
  });
});
