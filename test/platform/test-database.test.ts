import { describe, expect, it } from "vitest";
import { checkTestDatabaseSettings, createFreshDatabase } from "../support/database.js";

// The suite's own guard rails: a PostgreSQL run must never pass by skipping PostgreSQL.
describe("test database settings", () => {
  it("refuses the PostgreSQL run without DATABASE_URL (its PostgreSQL-only tests would skip)", () => {
    expect(() => checkTestDatabaseSettings({ TEST_DATABASE: "postgres", CI: "true" })).toThrow(/DATABASE_URL is not set/);
    expect(() => checkTestDatabaseSettings({ TEST_DATABASE: "postgres", DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test" })).not.toThrow();
    expect(() => checkTestDatabaseSettings({ TEST_DATABASE: "embedded" })).not.toThrow();
    expect(() => checkTestDatabaseSettings({})).not.toThrow();
    expect(() => checkTestDatabaseSettings({ TEST_DATABASE: "postgress" })).toThrow(/postgres or embedded/);
  });

  it("fails, not skips, when DATABASE_URL is set but unusable", async () => {
    // Port 1 on loopback: nothing listens there.
    await expect(createFreshDatabase("postgres://postgres@127.0.0.1:1/test")).rejects.toThrow();
  });
});
