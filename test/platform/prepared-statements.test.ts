// The service prepares its parameterized statements once per PostgreSQL connection, so
// PostgreSQL parses and plans them once instead of on every call. What must hold: the right
// statements are prepared (and only while the setting is on), a connection prepares a bounded
// number, and a migration that adds a column, run by another replica while this one serves, breaks
// nothing. PostgreSQL only (the embedded database has no connections); fails, not skips, in the
// PostgreSQL run without one.
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectPostgres, type DatabaseHandle } from "../../src/db/database.js";
import { isPreparable, maxPreparedParameters, maxPreparedPerConnection } from "../../src/db/prepared-statements.js";
import { createFreshDatabase, testDatabaseKind } from "../support/database.js";
import { startTestVault } from "../support/vault.js";

describe("which statements are prepared", () => {
  it("parameterized statements that name their columns, of bounded arity", () => {
    expect(isPreparable(`select "id", "path" from "secrets" where "tenant_id" = $1`, 1)).toBe(true);
    expect(isPreparable(`select count(*) as n from secrets where tenant_id = $1`, 1)).toBe(true);
    expect(isPreparable(`select id from secrets`, 0)).toBe(false);
    expect(isPreparable(`select * from "secrets" where "id" = $1`, 1)).toBe(false);
    expect(isPreparable(`update rotation_history set status = $1 where secret_id = $2 returning *`, 2)).toBe(false);
    expect(isPreparable(`select "secrets".* from "secrets" where "id" = $1`, 1)).toBe(false);
    expect(isPreparable(`select id from events where id in (${Array.from({ length: maxPreparedParameters + 1 }, (_, i) => `$${i + 1}`).join(", ")})`, maxPreparedParameters + 1)).toBe(false);
  });
});

describe.skipIf(testDatabaseKind !== "postgres")("prepared statements (PostgreSQL)", () => {
  let fresh: Awaited<ReturnType<typeof createFreshDatabase>>;
  let admin: pg.Client;
  const handles: DatabaseHandle[] = [];
  const open = (preparedStatements: boolean) => {
    const handle = connectPostgres(fresh.databaseUrl!, { poolSize: 1, preparedStatements });
    handles.push(handle);
    return handle;
  };
  /** The statements prepared on the pool's one connection (read on that connection, unprepared: no parameters). */
  const preparedOn = async (handle: DatabaseHandle) =>
    (await sql<{ statement: string }>`select statement from pg_prepared_statements order by prepare_time`.execute(handle.db)).rows.map((r) => r.statement);

  beforeAll(async () => {
    fresh = await createFreshDatabase();
    admin = new pg.Client({ connectionString: fresh.databaseUrl });
    await admin.connect();
    await admin.query(`create table prepared_probe (id integer primary key, name text not null)`);
    await admin.query(`insert into prepared_probe values (1, 'one'), (2, 'two')`);
  }, 60_000);
  afterAll(async () => {
    for (const h of handles) await h.close();
    await admin?.end();
    await fresh?.drop();
  });

  it("prepares a parameterized statement once and reuses it; never one that selects *", async () => {
    const handle = open(true);
    const byId = (id: number) => handle.db.selectFrom("prepared_probe" as never).select(["name" as never]).where("id" as never, "=", id as never).executeTakeFirst();
    expect(await byId(1)).toEqual({ name: "one" });
    expect(await byId(2)).toEqual({ name: "two" });
    await handle.db.selectFrom("prepared_probe" as never).selectAll().where("id" as never, "=", 1 as never).execute();
    const prepared = await preparedOn(handle);
    expect(prepared).toEqual([`select "name" from "prepared_probe" where "id" = $1`]);
  });

  it("prepares nothing when turned off", async () => {
    const handle = open(false);
    await handle.db.selectFrom("prepared_probe" as never).select(["name" as never]).where("id" as never, "=", 1 as never).execute();
    expect(await preparedOn(handle)).toEqual([]);
  });

  it("prepares at most maxPreparedPerConnection statements on a connection; the rest still run", async () => {
    const handle = open(true);
    for (let i = 0; i < maxPreparedPerConnection + 20; i++) {
      const { rows } = await sql<{ n: number }>`select ${i}::int + ${sql.lit(i)} as n`.execute(handle.db);
      expect(rows[0]!.n).toBe(2 * i);
    }
    expect(await preparedOn(handle)).toHaveLength(maxPreparedPerConnection);
  });

  it("a column added by another connection's migration breaks neither prepared nor unprepared statements", async () => {
    const handle = open(true);
    const named = () => handle.db.selectFrom("prepared_probe" as never).select(["id" as never, "name" as never]).where("id" as never, "=", 2 as never).executeTakeFirst();
    const all = () => handle.db.selectFrom("prepared_probe" as never).selectAll().where("id" as never, "=", 2 as never).executeTakeFirst();
    expect(await named()).toEqual({ id: 2, name: "two" });
    expect(await all()).toEqual({ id: 2, name: "two" });
    await admin.query(`alter table prepared_probe add column note text`);
    expect(await named()).toEqual({ id: 2, name: "two" });
    expect(await all()).toEqual({ id: 2, name: "two", note: null });
    // What the `*` rule prevents: the same change under a prepared `SELECT *` fails on its connection.
    const raw = new pg.Client({ connectionString: fresh.databaseUrl });
    await raw.connect();
    try {
      const star = { name: "star", text: "select * from prepared_probe where id = $1", values: [2] };
      await raw.query(star);
      await admin.query(`alter table prepared_probe add column extra text`);
      await expect(raw.query(star)).rejects.toThrow(/cached plan must not change result type/);
    } finally {
      await raw.end();
    }
  });

  it("the service prepares its write statements, and writes and reads still answer", async () => {
    // One pooled connection: the statements a write prepared are visible to the next query on the pool.
    const v = await startTestVault({ env: { SCAIVAULT_DB_POOL_SIZE: "1" } });
    try {
      const token = await v.token({ tenantId: "prep", scopes: ["secrets:read", "secrets:write"] });
      for (let i = 0; i < 3; i++) expect((await v.rest("PUT", "/v1/secrets/app/db", { token, body: { data: { password: `p${i}` } } })).status).toBe(i === 0 ? 201 : 200);
      expect((await v.rest("GET", "/v1/secrets/app/db?version=1", { token })).body).toMatchObject({ version: 1, data: { password: "p0" } });
      expect((await v.rest("GET", "/v1/secrets/app/db", { token })).body).toMatchObject({ version: 3, data: { password: "p2" } });
      const prepared = (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(v.vault.db)).rows.map((r) => r.statement);
      expect(prepared.some((s) => s.startsWith(`with "inserted" as (insert into "secret_versions"`))).toBe(true);
      expect(prepared.some((s) => s.startsWith(`update "secrets" set "updated_at" = $1`))).toBe(true);
      // The secret's row, locked: the hottest statement of a write names its columns to be prepared.
      expect(prepared.some((s) => s.startsWith(`select "id", "tenant_id", "path"`) && s.endsWith("for update"))).toBe(true);
      expect(prepared.some((s) => s.includes("*") && !s.includes("count(*)"))).toBe(false);
    } finally {
      await v.close();
    }
  }, 120_000);
});
