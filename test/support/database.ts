import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** Which database the suite runs on: PostgreSQL when DATABASE_URL is set, the embedded default otherwise. */
export const testDatabaseKind: "postgres" | "embedded" = process.env.DATABASE_URL ? "postgres" : "embedded";

/** A fresh, empty database for one test server: a new PostgreSQL database, or a new embedded data dir. */
export async function createFreshDatabase(): Promise<{ databaseUrl?: string; dataDir: string; drop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), "scaivault-test-"));
  const base = process.env.DATABASE_URL;
  if (!base) return { dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
  const name = `sv_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    dataDir,
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
