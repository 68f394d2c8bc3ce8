import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScaiVaultError } from "../../../src/errors.js";
import { createPostgresProvider } from "../../../src/provider-rotation/providers/postgres.js";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../../support/throwaway-postgres.js";
import { providerCall } from "./provider-call.js";
import { runPreflight } from "../../../src/provider-rotation/providers/preflight.js";
import { createAllowList } from "../../../src/outbound/ssrf-guard.js";

/** The loopback stand-ins are allowed the way webhook tests allow them (SCAIVAULT_WEBHOOK_ALLOW_HOSTS=127.0.0.1). */
const loopback = createAllowList(["127.0.0.1"]);

// PostgreSQL-only: skipped on the embedded run; with DATABASE_URL set, an unreachable database fails
// the suite in beforeAll. The shared server trusts every local login, so the password checks run on
// a throwaway cluster of this file's own with SCRAM authentication.
const databaseUrl = process.env.DATABASE_URL;

const suffix = () => randomBytes(5).toString("hex");

/** Logs in with a fresh connection; the answer is the role name or the SQLSTATE of the refusal. */
async function loginAs(cluster: ThrowawayPostgres, username: string, password: string): Promise<string> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, database: "postgres", user: username, password });
  try {
    await client.connect();
    const { rows } = await client.query<{ user: string }>("select current_user as user");
    return rows[0]!.user;
  } catch (err) {
    return `refused ${(err as { code?: string }).code}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe.runIf(databaseUrl)("postgres provider (PostgreSQL only)", () => {
  let cluster: ThrowawayPostgres;
  let superuser: pg.Client;
  const admin = { admin_username: `rot_admin_${suffix()}`, admin_password: randomBytes(12).toString("hex") };
  const createdRoles: string[] = [];

  /** Creates a login role on the throwaway cluster with a known password; dropped in afterAll. */
  async function createRole(password: string): Promise<string> {
    const name = `app_${suffix()}`;
    await superuser.query(`create role ${pg.escapeIdentifier(name)} login password ${pg.escapeLiteral(password)}`);
    createdRoles.push(name);
    return name;
  }

  beforeAll(async () => {
    const shared = new pg.Client({ connectionString: databaseUrl });
    await shared.connect(); // fails the file when DATABASE_URL is set but unreachable
    await shared.end();
    cluster = await startThrowawayPostgres();
    superuser = new pg.Client({ connectionString: cluster.url });
    await superuser.connect();
    await superuser.query(`create role ${admin.admin_username} login createrole password ${pg.escapeLiteral(admin.admin_password)}`);
  });

  afterAll(async () => {
    if (superuser) {
      for (const role of createdRoles) await superuser.query(`drop role if exists ${pg.escapeIdentifier(role)}`);
      await superuser.query(`drop role if exists ${admin.admin_username}`);
      await superuser.end();
    }
    await cluster?.stop();
  });

  const configFor = (c: ThrowawayPostgres, roles: { usernames: string[] } | { username: string }) => ({
    host: c.host,
    port: c.port,
    database: "postgres",
    ...roles,
  });

  it("alternating roles: the new role logs in, the old one works through grace and is refused after revoke", async () => {
    const firstPassword = randomBytes(12).toString("hex");
    const a = await createRole(firstPassword);
    const b = await createRole(randomBytes(12).toString("hex"));
    const provider = createPostgresProvider({ allow: loopback });
    const config = configFor(cluster, { usernames: [a, b] });
    provider.validate(config, admin);
    const old = { username: a, password: firstPassword };

    const call = providerCall({ config, credentials: admin, current: old });
    const issued = await provider.create(call);
    expect(issued.data.username).toBe(b);
    expect(issued.summary).toBe(`ALTER ROLE ${b} PASSWORD (alternating)`);
    expect(issued.summary).not.toContain(String(issued.data.password));
    expect((await provider.test(call, issued.data)).summary).toBe(`login as ${b} 200`);
    expect(await loginAs(cluster, b, String(issued.data.password))).toBe(b);
    expect(await loginAs(cluster, a, firstPassword)).toBe(a); // grace: the old credential still works

    const promoted = providerCall({ config, credentials: admin, current: issued.data });
    expect((await provider.revoke(promoted, old)).summary).toBe(`ALTER ROLE ${a} PASSWORD (unknown random)`);
    expect(await loginAs(cluster, a, firstPassword)).toBe("refused 28P01");
    expect(await loginAs(cluster, b, String(issued.data.password))).toBe(b);

    // The next rotation goes back to the first role, with a password nobody had before.
    const next = await provider.create(promoted);
    expect(next.data.username).toBe(a);
    expect(await loginAs(cluster, a, String(next.data.password))).toBe(a);
    expect(await loginAs(cluster, b, String(issued.data.password))).toBe(b);
  });

  it("in place: the new password works and the old one fails at once; discard restores the current password", async () => {
    const firstPassword = randomBytes(12).toString("hex");
    const role = await createRole(firstPassword);
    const provider = createPostgresProvider({ allow: loopback });
    const config = configFor(cluster, { username: role });
    const current = { username: role, password: firstPassword };
    const call = providerCall({ config, credentials: admin, current });

    const issued = await provider.create(call);
    expect(issued.summary).toBe(`ALTER ROLE ${role} PASSWORD (in place)`);
    await provider.test(call, issued.data);
    expect(await loginAs(cluster, role, firstPassword)).toBe("refused 28P01");
    expect(await loginAs(cluster, role, String(issued.data.password))).toBe(role);

    // A run that fails before promote puts the current version's password back.
    expect((await provider.discard(call, issued.data)).summary).toContain("restored the current version's");
    expect(await loginAs(cluster, role, firstPassword)).toBe(role);
    expect(await loginAs(cluster, role, String(issued.data.password))).toBe("refused 28P01");

    const revoked = await provider.revoke(providerCall({ config, credentials: admin, current: issued.data }), current);
    expect(revoked.summary).toContain("in place");
  });

  it("discard in alternating mode locks the half-created role and never touches the current one", async () => {
    const firstPassword = randomBytes(12).toString("hex");
    const a = await createRole(firstPassword);
    const b = await createRole(randomBytes(12).toString("hex"));
    const provider = createPostgresProvider({ allow: loopback });
    const config = configFor(cluster, { usernames: [a, b] });
    const current = { username: a, password: firstPassword };
    const call = providerCall({ config, credentials: admin, current });
    const issued = await provider.create(call);
    await provider.discard(call, issued.data);
    expect(await loginAs(cluster, b, String(issued.data.password))).toBe("refused 28P01");
    expect(await loginAs(cluster, a, firstPassword)).toBe(a);
    await expect(provider.revoke(call, current)).rejects.toThrow("refuses to revoke the current version's role");
    expect(await loginAs(cluster, a, firstPassword)).toBe(a);
  });

  it("odd role names are quoted, and the server stores a SCRAM verifier, never the password", async () => {
    const odd = `app "quoted"; drop role x ${suffix()}`;
    await superuser.query(`create role ${pg.escapeIdentifier(odd)} login password 'x'`);
    createdRoles.push(odd);
    const provider = createPostgresProvider({ allow: loopback });
    const config = configFor(cluster, { username: odd });
    const issued = await provider.create(providerCall({ config, credentials: admin }));
    expect(await loginAs(cluster, odd, String(issued.data.password))).toBe(odd);
    const { rows } = await superuser.query<{ rolpassword: string }>("select rolpassword from pg_authid where rolname = $1", [odd]);
    expect(rows[0]!.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(rows[0]!.rolpassword).not.toContain(String(issued.data.password));
  });

  it("a failed login or a wrong admin password is a safe unavailable error", async () => {
    const role = await createRole("initial-password");
    const provider = createPostgresProvider({ allow: loopback });
    const config = configFor(cluster, { username: role });
    const call = providerCall({ config, credentials: admin });
    const badTest = await provider.test(call, { username: role, password: "wrong-password" }).catch((e: unknown) => e);
    expect(badTest).toBeInstanceOf(ScaiVaultError);
    expect((badTest as ScaiVaultError).message).toBe("postgres login with the new password failed: 28P01 password authentication failed");

    const wrongAdmin = { ...admin, admin_password: "not-it" };
    const badCreate = await provider.create(providerCall({ config, credentials: wrongAdmin })).catch((e: unknown) => e);
    expect((badCreate as ScaiVaultError).message).toBe("postgres admin login failed: 28P01 password authentication failed");
    expect((badCreate as ScaiVaultError).message).not.toContain("not-it");
    expect(await loginAs(cluster, role, "initial-password")).toBe(role);
  });

  it("changes the stored verifier of a role on the CI PostgreSQL too", async () => {
    const url = new URL(databaseUrl!);
    const shared = new pg.Client({ connectionString: databaseUrl });
    await shared.connect();
    const role = `app_${suffix()}`;
    const adminRole = `rot_admin_${suffix()}`;
    try {
      await shared.query(`create role ${role} login password 'before'`);
      await shared.query(`create role ${adminRole} login createrole password 'admin-password'`);
      const before = (await shared.query("select rolpassword from pg_authid where rolname = $1", [role])).rows[0].rolpassword;
      const provider = createPostgresProvider({ allow: loopback });
      const config = { host: url.hostname, port: Number(url.port || 5432), database: url.pathname.slice(1) || "postgres", username: role };
      const call = providerCall({ config, credentials: { admin_username: adminRole, admin_password: "admin-password" } });
      const issued = await provider.create(call);
      await provider.test(call, issued.data);
      const after = (await shared.query("select rolpassword from pg_authid where rolname = $1", [role])).rows[0].rolpassword;
      expect(after).not.toBe(before);
      expect(after).toMatch(/^SCRAM-SHA-256\$4096:/);
    } finally {
      await shared.query(`drop role if exists ${role}`);
      await shared.query(`drop role if exists ${adminRole}`);
      await shared.end();
    }
  });

  it("pre-flight: the admin login and its right to set each role's password, read from the catalog, changing nothing", async () => {
    const a = await createRole(randomBytes(12).toString("hex"));
    const b = await createRole(randomBytes(12).toString("hex"));
    const provider = createPostgresProvider({ allow: loopback, connectTimeoutMs: 3_000 });
    const config = configFor(cluster, { usernames: [a, b] });
    const verifiers = async () => (await superuser.query("select rolname, rolpassword from pg_authid where rolname = any($1) order by rolname", [[a, b, admin.admin_username]])).rows;
    const before = await verifiers();
    const names = (checks: { name: string; ok: boolean }[]) => checks.map((c) => `${c.name}:${c.ok ? "ok" : "failed"}`);

    const ok = await runPreflight(provider, providerCall({ config, credentials: admin }));
    expect(names(ok.checks)).toEqual(["reachable:ok", "credentials:ok"]);
    expect(ok.checks[1]!.message).toContain(`may set the password of ${a}, ${b}`);

    const rejected = await runPreflight(provider, providerCall({ config, credentials: { ...admin, admin_password: "not-the-admin-password" } }));
    expect(names(rejected.checks)).toEqual(["reachable:ok", "credentials:failed"]);
    expect(rejected.checks[1]!.message).toContain("28P01 password authentication failed");
    expect(JSON.stringify(rejected)).not.toContain("not-the-admin-password");

    const down = await runPreflight(provider, providerCall({ config: { ...config, port: 9 }, credentials: admin }));
    expect(names(down.checks)).toEqual(["reachable:failed"]);
    expect(down.checks[0]!.message).toContain("ECONNREFUSED");

    const missing = await runPreflight(provider, providerCall({ config: configFor(cluster, { usernames: [a, `gone_${suffix()}`] }), credentials: admin }));
    expect(names(missing.checks)).toEqual(["reachable:ok", "credentials:ok", "config:failed"]);

    // A login without CREATEROLE is accepted but may not change the roles: credentials fail, not reachability.
    const weakPassword = randomBytes(12).toString("hex");
    const weak = await createRole(weakPassword);
    const powerless = await runPreflight(provider, providerCall({ config, credentials: { admin_username: weak, admin_password: weakPassword } }));
    expect(names(powerless.checks)).toEqual(["reachable:ok", "credentials:failed"]);
    expect(powerless.checks[1]!.message).toContain("may not set the password");

    expect(await verifiers()).toEqual(before);
  });
});

describe("postgres provider without a server", () => {
  it("validate names the bad field", () => {
    const provider = createPostgresProvider({ allow: loopback });
    const admin = { admin_username: "rotator", admin_password: "pw" };
    const base = { host: "127.0.0.1", port: 5432, database: "app" };
    expect(() => provider.validate({ ...base, usernames: ["a", "b"] }, admin)).not.toThrow();
    expect(() => provider.validate({ ...base, username: "a" }, admin)).not.toThrow();
    expect(() => provider.validate(base, admin)).toThrow("config.usernames (two roles to alternate) or config.username (in place) is required");
    expect(() => provider.validate({ ...base, usernames: ["a", "a"] }, admin)).toThrow("config.usernames must be two different role names");
    expect(() => provider.validate({ ...base, usernames: ["a", "b"], username: "a" }, admin)).toThrow("not both");
    expect(() => provider.validate({ ...base, port: 0, username: "a" }, admin)).toThrow("config.port must be an integer");
    expect(() => provider.validate({ ...base, username: "a", ssl: "yes" }, admin)).toThrow("config.ssl must be true or false");
    expect(() => provider.validate({ ...base, username: "a" }, undefined)).toThrow("credentials.admin_username and credentials.admin_password are required");
    expect(() => provider.validate({ ...base, usernames: ["rotator", "b"] }, admin)).toThrow("credentials.admin_username must not be one of the rotated roles");
  });
});
