// A replica follows secret changes (read cache), tenant changes (registry) and events (watch
// streams) through LISTEN. PostgreSQL wakes every listening connection of a database on each
// commit that notifies, whatever channels it listens on, so a replica keeps one such connection:
// with one per channel, every write woke three processes instead of one. PostgreSQL only (the
// embedded database has no connections); fails, not skips, in the PostgreSQL run without one.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { listenerApplicationName } from "../../src/db/shared-listener.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { sseWatch } from "../support/watchers.js";

describe.skipIf(testDatabaseKind !== "postgres")("LISTEN connections (PostgreSQL)", () => {
  let v: TestVault;
  let admin: pg.Client;
  beforeAll(async () => {
    v = await startTestVault();
    admin = new pg.Client({ connectionString: v.databaseUrl });
    await admin.connect();
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await v?.close();
  });

  it("one connection listens for every channel, and notices on each still arrive", async () => {
    const { rows } = await admin.query<{ pid: number; query: string }>(
      `select pid, query from pg_stat_activity where datname = current_database() and application_name = $1`,
      [listenerApplicationName],
    );
    expect(rows).toHaveLength(1);
    // It runs only its heartbeat and LISTEN statements.
    expect(rows[0]!.query).toMatch(/^(listen |select pg_notify)/i);

    // Events reach a watcher, and an operator's SQL change empties the read cache of the secret it changed.
    const token = await v.token({ tenantId: "listen-t", scopes: ["secrets:read", "secrets:write"] });
    const watcher = sseWatch(v.baseUrl, token, { prefix: "app/" });
    try {
      await watcher.live;
      expect((await v.rest("PUT", "/v1/secrets/app/one", { token, body: { data: { v: 1 } } })).status).toBe(201);
      expect((await v.rest("GET", "/v1/secrets/app/one", { token })).body.data).toEqual({ v: 1 });
      await admin.query(`update secrets set deleted_at = now() where tenant_id = 'listen-t' and path = 'app/one'`);
      await vi.waitFor(async () => expect((await v.rest("GET", "/v1/secrets/app/one", { token })).status).toBe(404), { timeout: 20_000, interval: 100 });
      expect((await v.rest("PUT", "/v1/secrets/app/two", { token, body: { data: { v: 2 } } })).status).toBe(201);
      const seen = await watcher.waitFor(2, 20_000);
      expect(seen.map((e) => [e.event_type, e.path])).toEqual([
        ["secret.created", "app/one"],
        ["secret.created", "app/two"],
      ]);
    } finally {
      watcher.close();
    }
  }, 120_000);
});
