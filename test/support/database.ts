import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/**
 * Refuses a run that means PostgreSQL but has no DATABASE_URL: `.ci/run` sets TEST_DATABASE=postgres
 * for its PostgreSQL run, and without this check the PostgreSQL-only tests would quietly skip.
 * (A DATABASE_URL that is set but unusable fails every test that creates a database.)
 */
export function checkTestDatabaseSettings(env: Record<string, string | undefined>): void {
  if (env.TEST_DATABASE === "postgres" && !env.DATABASE_URL) {
    throw new Error("TEST_DATABASE=postgres (the PostgreSQL run) but DATABASE_URL is not set: the PostgreSQL-only tests would be skipped");
  }
  if (env.TEST_DATABASE !== undefined && !["postgres", "embedded"].includes(env.TEST_DATABASE)) throw new Error("TEST_DATABASE must be postgres or embedded");
}
checkTestDatabaseSettings(process.env);

/** Which database the suite runs on: PostgreSQL when DATABASE_URL is set, the embedded default otherwise. */
export const testDatabaseKind: "postgres" | "embedded" = process.env.DATABASE_URL ? "postgres" : "embedded";

/** A fresh, empty database for one test server: a new PostgreSQL database, or a new embedded data dir. */
export async function createFreshDatabase(base = process.env.DATABASE_URL): Promise<{ databaseUrl?: string; dataDir: string; drop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), "scaivault-test-"));
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
