import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { parseDuration } from "../../src/duration.js";
import { validateSecretPath } from "../../src/secrets/secret-path.js";

describe("configuration", () => {
  it("reports every problem at once", () => {
    let message = "";
    try {
      loadConfig({ PORT: "99999", SCAIVAULT_MASTER_KEY: "c2hvcnQ=", SCAIVAULT_LOG_LEVEL: "loud", SCAIVAULT_TLS_CERT_FILE: "/x" });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("PORT");
    expect(message).toContain("SCAIVAULT_MASTER_KEY");
    expect(message).toContain("SCAIVAULT_LOG_LEVEL");
    expect(message).toContain("SCAIVAULT_TLS_KEY_FILE");
  });

  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.softDeleteRetentionSeconds).toBe(30 * 86400);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("prepares PostgreSQL statements unless told not to", () => {
    expect(loadConfig({}).dbPreparedStatements).toBe(true);
    expect(loadConfig({ SCAIVAULT_DB_PREPARED_STATEMENTS: "false" }).dbPreparedStatements).toBe(false);
    expect(() => loadConfig({ SCAIVAULT_DB_PREPARED_STATEMENTS: "sometimes" })).toThrow(/SCAIVAULT_DB_PREPARED_STATEMENTS must be true or false/);
  });
});

describe("durations", () => {
  it("parses the contract's grammar", () => {
    expect(parseDuration("90d")).toBe(7776000);
    expect(parseDuration("1h30m")).toBe(5400);
    expect(parseDuration("2w")).toBe(1209600);
    for (const bad of ["", "90", "d", "1.5h", "-1h", "1y", "0s"]) expect(() => parseDuration(bad)).toThrow();
  });
});

describe("secret paths", () => {
  it("accepts the guide's paths", () => {
    for (const p of ["environments/production/salesforce/api-credentials", "app/db/password", "a", "x.y_z-1/A"]) {
      expect(validateSecretPath(p)).toBe(p);
    }
  });
  it("rejects format violations and reserved names", () => {
    for (const p of ["", "/a", "a/", "a//b", "a/./b", "a/../b", "a b", "a/%2F", "metadata/x", "expiring", "a/versions", "a/rotate", "a/restore", "x".repeat(129), ("ab/").repeat(200) + "a"]) {
      expect(() => validateSecretPath(p), p).toThrow(/invalid secret path/);
    }
  });
});
