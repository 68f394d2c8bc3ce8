import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { ScaiVaultError } from "../../errors.js";
import type { AllowList } from "../../outbound/ssrf-guard.js";
import { refuseGuardedHost, resolveGuardedHost } from "../../outbound/guarded-http.js";
import type { CredentialData, ProviderCall, RotationProvider, StepOutcome } from "./provider.js";
import { optionalString, requireObject, requireString } from "./provider-support.js";
import { failed, passed, type PreflightCheck } from "./preflight.js";

/** What the postgres provider needs besides the call. */
export interface PostgresProviderDeps {
  /** The webhooks' allow-list (SCAIVAULT_WEBHOOK_ALLOW_HOSTS): `config.host` passes the same SSRF guard. */
  allow: AllowList;
  /** Connect timeout for the admin connection and the test login (default 10 s). */
  connectTimeoutMs?: number;
}

interface PostgresConfig {
  host: string;
  port: number;
  database: string;
  /** Two roles to alternate between, or one changed in place. */
  usernames: [string] | [string, string];
  ssl: boolean;
}

interface Login {
  username: string;
  password: string;
}

const scramIterations = 4096;

/**
 * The `postgres` provider: with two usernames each rotation gives the role that is not current a
 * fresh password (the current one keeps working through the grace period, and revoke sets it to a
 * password nobody knows); with one username the password changes in place. Test is a fresh login.
 */
export function createPostgresProvider(deps: PostgresProviderDeps): RotationProvider {
  const connectTimeoutMs = deps.connectTimeoutMs ?? 10_000;
  const parseConfig = (config: Record<string, unknown>) => parsePostgresConfig(config, deps.allow);

  const connect = async (config: PostgresConfig, login: Login, signal: AbortSignal): Promise<pg.Client> => {
    // pg takes no lookup: connect to the one address the SSRF guard checked, TLS still verifying the name.
    const address = await resolveGuardedHost(config.host, deps.allow);
    const client = new pg.Client({
      host: address,
      port: config.port,
      database: config.database,
      user: login.username,
      password: login.password,
      ssl: config.ssl ? { rejectUnauthorized: true, servername: config.host } : false,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: "scaivault-rotation",
    });
    // pg takes no AbortSignal: ending the connection makes the pending query fail.
    const onAbort = () => void client.end();
    signal.addEventListener("abort", onAbort, { once: true });
    client.on("end", () => signal.removeEventListener("abort", onAbort));
    client.on("error", () => undefined); // a dropped connection surfaces on the pending query
    try {
      await client.connect();
    } catch (err) {
      signal.removeEventListener("abort", onAbort);
      throw err;
    }
    return client;
  };

  /** Sets `role`'s password through the admin connection; only a SCRAM verifier leaves this process. */
  const setPassword = async (call: ProviderCall, role: string, password: string): Promise<void> => {
    const config = parseConfig(call.config);
    const admin = parseAdmin(call.credentials);
    let client: pg.Client | undefined;
    try {
      client = await connect(config, admin, call.signal);
      await client.query(`ALTER ROLE ${pg.escapeIdentifier(role)} WITH LOGIN PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
    } catch (err) {
      throw postgresFailure(client ? "ALTER ROLE" : "admin login", err);
    } finally {
      await client?.end();
    }
  };

  return {
    name: "postgres",

    validate(config, credentials) {
      const parsed = parseConfig(config);
      const admin = parseAdmin(credentials);
      // Rotating the admin connection's own role would break every later rotation through it.
      if (parsed.usernames.includes(admin.username)) {
        throw new ScaiVaultError("invalid_request", "credentials.admin_username must not be one of the rotated roles");
      }
    },

    async create(call) {
      const config = parseConfig(call.config);
      const role = nextRole(config, call.current);
      const password = randomPassword();
      await setPassword(call, role, password);
      const how = config.usernames.length === 2 ? "alternating" : "in place";
      return { data: { username: role, password }, summary: `ALTER ROLE ${role} PASSWORD (${how})` };
    },

    async test(call, issued) {
      const config = parseConfig(call.config);
      const login = parseLogin(issued, "the issued credential");
      let client: pg.Client | undefined;
      try {
        client = await connect(config, login, call.signal);
        const { rows } = await client.query<{ user: string }>("select current_user as user");
        if (rows[0]?.user !== login.username) throw new ScaiVaultError("unavailable", "postgres login answered as another role");
        return { summary: `login as ${login.username} 200` };
      } catch (err) {
        if (err instanceof ScaiVaultError) throw err;
        throw postgresFailure("login with the new password", err);
      } finally {
        await client?.end();
      }
    },

    async preflight(call) {
      const config = parseConfig(call.config);
      const admin = parseAdmin(call.credentials);
      const where = `${config.host}:${config.port}`;
      let client: pg.Client;
      try {
        client = await connect(config, admin, call.signal);
      } catch (err) {
        if (call.signal.aborted) throw err;
        return adminLoginFailure(err, where, admin.username, config.database);
      }
      try {
        const { rows } = await client.query<RoleRights>(roleRightsSql, [config.usernames]);
        return [passed("reachable", `${where} answered`), ...roleChecks(config, admin.username, rows)];
      } catch (err) {
        if (call.signal.aborted) throw err;
        return [failed("reachable", postgresFailure("role catalog query", err).message)];
      } finally {
        await client.end();
      }
    },

    async revoke(call, old): Promise<StepOutcome> {
      const config = parseConfig(call.config);
      const login = parseLogin(old, "the old version");
      if (config.usernames.length === 1) {
        return { summary: `in place: the old password of ${login.username} stopped working when it was changed` };
      }
      refuseCurrent(call, login.username, "revoke");
      await setPassword(call, login.username, randomPassword());
      return { summary: `ALTER ROLE ${login.username} PASSWORD (unknown random)` };
    },

    async discard(call, issued): Promise<StepOutcome> {
      const config = parseConfig(call.config);
      const login = parseLogin(issued, "the issued credential");
      if (config.usernames.length === 1) {
        // In place, the current version's password was replaced: put it back so it works again.
        const current = call.current ? parseLogin(call.current, "the current version") : undefined;
        if (current && current.username === login.username) {
          await setPassword(call, login.username, current.password);
          return { summary: `ALTER ROLE ${login.username} PASSWORD (restored the current version's)` };
        }
        await setPassword(call, login.username, randomPassword());
        return { summary: `ALTER ROLE ${login.username} PASSWORD (unknown random; no current version to restore)` };
      }
      refuseCurrent(call, login.username, "discard");
      await setPassword(call, login.username, randomPassword());
      return { summary: `ALTER ROLE ${login.username} PASSWORD (unknown random)` };
    },
  };
}

/** The role the next version uses: the other one of the pair, or the only one. */
function nextRole(config: PostgresConfig, current: CredentialData | undefined): string {
  const [first, second] = config.usernames;
  if (second === undefined) return first;
  return current?.username === first ? second : first;
}

/** Never revoke under doubt: the role consumers are told to use keeps its password. */
function refuseCurrent(call: ProviderCall, username: string, step: string): void {
  if (call.current?.username === username) {
    throw new ScaiVaultError("invalid_request", `postgres refuses to ${step} the current version's role`);
  }
}

function randomPassword(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677), as libpq's
 * PQencryptPasswordConn builds it: sent instead of the password, so server logs of the
 * ALTER ROLE statement never hold a usable secret.
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, scramIterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${scramIterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

function parsePostgresConfig(config: Record<string, unknown>, allow: AllowList): PostgresConfig {
  requireObject(config, "config");
  const host = requireString(config, "host", "config");
  refuseGuardedHost(host, allow, "config.host");
  const port = config.port ?? 5432;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ScaiVaultError("invalid_request", "config.port must be an integer from 1 to 65535");
  }
  const database = requireString(config, "database", "config");
  const username = optionalString(config, "username", "config");
  const list = config.usernames;
  let usernames: PostgresConfig["usernames"];
  if (list !== undefined && username !== undefined) {
    throw new ScaiVaultError("invalid_request", "config takes either usernames (two roles to alternate) or username (in place), not both");
  }
  if (list !== undefined) {
    if (!Array.isArray(list) || list.length !== 2 || !list.every(isRoleName) || list[0] === list[1]) {
      throw new ScaiVaultError("invalid_request", "config.usernames must be two different role names");
    }
    usernames = [list[0] as string, list[1] as string];
  } else if (username !== undefined) {
    if (!isRoleName(username)) throw new ScaiVaultError("invalid_request", "config.username must be a role name of at most 63 bytes");
    usernames = [username];
  } else {
    throw new ScaiVaultError("invalid_request", "config.usernames (two roles to alternate) or config.username (in place) is required");
  }
  const ssl = config.ssl ?? false;
  if (typeof ssl !== "boolean") throw new ScaiVaultError("invalid_request", "config.ssl must be true or false");
  return { host, port, database, usernames, ssl };
}

function isRoleName(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && Buffer.byteLength(value) <= 63;
}

function parseAdmin(credentials: Record<string, unknown> | undefined): Login {
  if (credentials === undefined) {
    throw new ScaiVaultError("invalid_request", "credentials.admin_username and credentials.admin_password are required");
  }
  requireObject(credentials, "credentials");
  return {
    username: requireString(credentials, "admin_username", "credentials"),
    password: requireString(credentials, "admin_password", "credentials"),
  };
}

function parseLogin(data: CredentialData, where: string): Login {
  requireObject(data, where);
  return { username: requireString(data, "username", where), password: requireString(data, "password", where) };
}

/** SQLSTATEs worth naming in run history; anything else shows its code only. */
const knownStates: Record<string, string> = {
  "28P01": "password authentication failed",
  "28000": "login refused by pg_hba or role",
  "42704": "role does not exist",
  "42501": "insufficient privilege",
  "3D000": "database does not exist",
};

/** What the admin connection may do with each rotated role; read from the catalog, nothing changed. */
interface RoleRights {
  role: string | null;
  target_super: boolean | null;
  admin_super: boolean;
  admin_createrole: boolean;
  admin_option: boolean | null;
  version: number;
}

const roleRightsSql = `select r.rolname as role, r.rolsuper as target_super, me.rolsuper as admin_super, me.rolcreaterole as admin_createrole,
  case when r.oid is null then null else pg_has_role(me.oid, r.oid, 'MEMBER WITH ADMIN OPTION') end as admin_option,
  current_setting('server_version_num')::int as version
  from pg_roles me left join pg_roles r on r.rolname = any($1::text[]) where me.rolname = current_user`;

/** The admin login failed: no answer, the password refused, or the database missing. */
function adminLoginFailure(err: unknown, where: string, adminName: string, database: string): PreflightCheck[] {
  if (err instanceof ScaiVaultError) return [failed("reachable", err.message)];
  const code = (err as { code?: unknown })?.code;
  const state = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  if (!state) return [failed("reachable", `${where} did not answer: ${typeof code === "string" ? code : "connection failed"}`)];
  const reachable = passed("reachable", `${where} answered`);
  if (state.startsWith("28")) return [reachable, failed("credentials", `the admin login as ${adminName} was refused: ${state}${knownStates[state] ? ` ${knownStates[state]}` : ""}`)];
  if (state === "3D000") return [reachable, failed("config", `database ${database} does not exist (3D000)`)];
  return [failed("reachable", `${where} refused the connection: ${state}`)];
}

/** Each rotated role must exist, and the admin must be allowed to set its password (ALTER ROLE … PASSWORD). */
function roleChecks(config: PostgresConfig, adminName: string, rows: RoleRights[]): PreflightCheck[] {
  const missing = config.usernames.filter((u) => !rows.some((r) => r.role === u));
  const me = rows[0];
  if (!me) return [failed("credentials", `the admin login as ${adminName} was accepted but its role is not in pg_roles`)];
  const accepted = `the admin login as ${adminName} was accepted`;
  if (missing.length > 0) return [passed("credentials", accepted), failed("config", `role ${missing.join(", ")} does not exist`)];
  if (me.admin_super) return [passed("credentials", `${accepted} (superuser)`)];
  const refused = rows.filter((r) => r.target_super || !me.admin_createrole || (me.version >= 160000 && !r.admin_option)).map((r) => r.role!);
  if (refused.length > 0) {
    const needs = me.version >= 160000 ? "CREATEROLE and ADMIN OPTION on each rotated role" : "CREATEROLE (and the rotated roles must not be superusers)";
    return [failed("credentials", `${accepted} but may not set the password of ${refused.join(", ")}: it needs ${needs}`)];
  }
  return [passed("credentials", `${accepted} and may set the password of ${config.usernames.join(", ")}`)];
}

/** A safe step error: the action and PostgreSQL's SQLSTATE (or the socket error code), never a password. */
function postgresFailure(action: string, err: unknown): ScaiVaultError {
  if (err instanceof ScaiVaultError) return err; // already safe (the SSRF guard's refusal)
  const code = (err as { code?: unknown })?.code;
  const detail = typeof code === "string" ? `${code}${knownStates[code] ? ` ${knownStates[code]}` : ""}` : "connection failed";
  return new ScaiVaultError("unavailable", `postgres ${action} failed: ${detail}`, { cause: err });
}
