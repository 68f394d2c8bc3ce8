import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

  it("reports the JWT keys, the TLS files and the cron patterns among the other problems", () => {
    const dir = mkdtempSync(join(tmpdir(), "scaivault-config-"));
    try {
      writeFileSync(join(dir, "cert.pem"), "not a certificate");
      let message = "";
      try {
        loadConfig({
          PORT: "99999",
          SCAIVAULT_JWT_SECRET: "short-secret-value",
          SCAIVAULT_JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----",
          SCAIVAULT_TLS_CERT_FILE: join(dir, "cert.pem"),
          SCAIVAULT_TLS_KEY_FILE: join(dir, "missing-key.pem"),
          SCAIVAULT_PURGE_CRON: "x x x x x",
          SCAIVAULT_RETENTION_CRON: "99 * * * *",
        });
      } catch (err) {
        message = (err as Error).message;
      }
      const problems = message.split("\n").slice(1);
      expect(problems).toEqual([
        expect.stringContaining("SCAIVAULT_TLS_CERT_FILE:"),
        expect.stringContaining("SCAIVAULT_TLS_KEY_FILE: cannot read"),
        "  - SCAIVAULT_JWT_SECRET must be at least 32 bytes",
        "  - SCAIVAULT_JWT_PUBLIC_KEY must be a PEM (SPKI) or JWK public key",
        "  - SCAIVAULT_PURGE_CRON must be a cron pattern",
        "  - SCAIVAULT_RETENTION_CRON must be a cron pattern",
        expect.stringContaining("PORT must be"),
      ]);
      // A problem names the setting, never its value.
      expect(message).not.toContain("short-secret-value");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("accepts real key material, TLS files and cron patterns", () => {
    const dir = mkdtempSync(join(tmpdir(), "scaivault-config-"));
    try {
      execFileSync("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      ], { stdio: "ignore" });
      const { publicKey } = generateKeyPairSync("ed25519");
      const base = { SCAIVAULT_TLS_CERT_FILE: join(dir, "cert.pem"), SCAIVAULT_TLS_KEY_FILE: join(dir, "key.pem"), SCAIVAULT_PURGE_CRON: "*/5 * * * *" };
      expect(loadConfig({ ...base, SCAIVAULT_JWT_PUBLIC_KEY: publicKey.export({ type: "spki", format: "pem" }).toString() }).tls).toBeDefined();
      expect(loadConfig({ ...base, SCAIVAULT_JWT_PUBLIC_KEY: JSON.stringify(publicKey.export({ format: "jwk" })) }).jwt.publicKey).toContain("OKP");
      expect(loadConfig({ SCAIVAULT_JWT_SECRET: "x".repeat(32) }).jwt.secret).toHaveLength(32);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a start with a short JWT secret and another bad setting names both and opens nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "scaivault-config-"));
    try {
      const dataDir = join(dir, "data");
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: "99999", SCAIVAULT_JWT_SECRET: "too-short", SCAIVAULT_DATA_DIR: dataDir };
      delete env.DATABASE_URL;
      const started = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], { cwd: fileURLToPath(new URL("../..", import.meta.url)), env, encoding: "utf8", timeout: 60_000 });
      expect(started.status).toBe(2);
      expect(started.stderr).toContain("SCAIVAULT_JWT_SECRET must be at least 32 bytes");
      expect(started.stderr).toContain("PORT must be an integer");
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
