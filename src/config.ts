import { isCronPattern, jwtKeyProblems, parseExpiryWarnings, tlsFileProblems } from "./config-checks.js";
import { parseDuration } from "./duration.js";
import { parseAllowListEntries } from "./ip-address.js";
import { parseVaultMounts, type VaultMount } from "./vault-dialect/vault-mounts.js";

/** Every setting of the service, validated at once and frozen. */
export interface Config {
  port: number;
  host: string;
  /** PostgreSQL URL; when absent the embedded PGlite database in `dataDir` is used. */
  databaseUrl?: string;
  dataDir: string;
  /** Base64 of 32 bytes; when absent the embedded default keeps a generated key file in `dataDir`. */
  masterKey?: string;
  jwt: {
    secret?: string;
    publicKey?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    clockSkewSeconds: number;
  };
  tls?: { certFile: string; keyFile: string };
  logLevel: "debug" | "info" | "warn" | "error";
  maxBodyBytes: number;
  softDeleteRetentionSeconds: number;
  /** A listing's `total_count` is exact up to this many matches; beyond it, it is this number with `total_count_exact: false`. */
  listCountLimit: number;
  /** Most items of one batch write (`POST /v1/secrets:batchPut`). */
  batchPutMaxItems: number;
  purgeCron: string;
  accessFlushMs: number;
  shutdownTimeoutMs: number;
  /** Longest a unary call may run on any protocol; a client's longer or missing deadline is cut to it. */
  maxCallMs: number;
  dbPoolSize: number;
  /** How long getting a PostgreSQL connection may take before a call fails as unavailable. */
  dbConnectTimeoutMs: number;
  /** Longest a PostgreSQL statement may run before it is cancelled and the call fails as unavailable (0: unbounded). */
  dbStatementTimeoutMs: number;
  /** How often a replica's LISTEN connection proves it still hears change notices; its caches are bypassed 1.5 × this after the last proof. */
  dbListenHeartbeatMs: number;
  /** How long `/readyz` and gRPC health wait for the database's answer before saying not serving. */
  readyTimeoutMs: number;
  /** Statements prepared once per PostgreSQL connection. */
  dbPreparedStatements: boolean;
  /** How long a client may take to send a request's headers (slow clients are cut). */
  headersTimeoutMs: number;
  connections: {
    /** How long a client may take to send a whole request, headers and body (HTTP/1.1 and each HTTP/2 stream). */
    requestTimeoutMs: number;
    /** How long an HTTP/2 connection without open streams is kept. */
    http2IdleTimeoutMs: number;
    /** Most connections open at once, and from one client address (0: no per-address cap). */
    max: number;
    maxPerIp: number;
  };
  corsOrigins: string[];
  readPath: {
    /** Secrets whose ciphertext rows each replica keeps for reads (0: every read goes to the database). */
    secretCacheEntries: number;
    /** Verified tokens remembered until they expire (0: every call verifies its token). */
    tokenCacheEntries: number;
    /** Most audit entries of reads committed by one INSERT (1: each read writes its own). */
    auditBatchMax: number;
    /** Unwrapped data keys (and tenants' partners) a replica keeps in memory. */
    keyCacheEntries: number;
  };
  scheduler: {
    /** Whether this replica runs the rotation scheduler (replicas may all run it; claims keep rotations exactly-once). */
    enabled: boolean;
    /** Seconds between scheduler ticks. */
    tickSeconds: number;
    /** Assignments claimed per transaction. */
    batchSize: number;
  };
  /**
   * How long before a secret's `expires_at` it is announced with `secret.expiring`, farthest first
   * (`label` as configured, e.g. `7d`); empty when the setting is `off`. Checked on the scheduler's tick.
   */
  expiryWarnings: readonly { label: string; seconds: number }[];
  watch: {
    /** Watch streams one tenant may hold open on one replica. */
    maxStreamsPerTenant: number;
    /** Idle time after which a stream gets a heartbeat. */
    heartbeatMs: number;
  };
  notifications: {
    /** SMTP server of email channels (`smtp://`, `smtps://`); email channels fail their attempts without it. */
    smtpUrl?: string;
    /** The From address of notification emails. */
    smtpFrom: string;
    /** Base URL of the console; messages link to `<url>/ui/...` when set. */
    publicUrl?: string;
  };
  /** Prometheus metrics: on the service's port, on a port of their own, or off. */
  metrics: { mode: "service-port" } | { mode: "own-port"; port: number } | { mode: "off" };
  retention: {
    /** Audit entries older than this are purged. */
    auditSeconds: number;
    /** Events, finished webhook deliveries and their attempts older than this are purged. */
    eventSeconds: number;
    /** Cron pattern of the purge job. */
    cron: string;
    /** Rows deleted per statement, so a purge never holds long locks. */
    batchSize: number;
  };
  webhooks: {
    /** Overall timeout of one delivery attempt. */
    timeoutMs: number;
    /** Hosts, addresses and CIDR ranges the SSRF guard lets webhooks reach. */
    allowHosts: string[];
    /** How often the dispatcher and delivery worker run. */
    pollMs: number;
  };
  /** Vault KV v2 mounts the Vault dialect serves (none when `off`). */
  vaultMounts: readonly VaultMount[];
}

/** What bounds the connections a replica holds. */
export type ConnectionLimits = Config["connections"];

/** The settings table: one place that names every environment variable, its default and its check. */
export const settings = [
  ["PORT", "8080", "Port for all four protocols"],
  ["HOST", "0.0.0.0", "Interface to listen on"],
  ["DATABASE_URL", "", "PostgreSQL URL; unset = embedded PGlite in `SCAIVAULT_DATA_DIR`"],
  ["SCAIVAULT_DATA_DIR", "./data", "Embedded database, generated dev master key and JWT secret"],
  ["SCAIVAULT_MASTER_KEY", "", "Base64 of 32 bytes wrapping the data keys; unset = generated key file (development)"],
  ["SCAIVAULT_JWT_SECRET", "", "HS256 secret (development); with no key setting at all one is generated into the data dir"],
  ["SCAIVAULT_JWT_PUBLIC_KEY", "", "PEM (SPKI) or JWK public key for RS/PS/ES/EdDSA tokens"],
  ["SCAIVAULT_JWKS_URL", "", "Remote JWKS URL"],
  ["SCAIVAULT_JWT_ISSUER", "", "Required `iss` when set"],
  ["SCAIVAULT_JWT_AUDIENCE", "", "Required `aud` when set"],
  ["SCAIVAULT_JWT_CLOCK_SKEW", "30s", "Tolerated clock skew for `exp`/`nbf`"],
  ["SCAIVAULT_TLS_CERT_FILE", "", "PEM certificate; with the key file enables TLS + ALPN"],
  ["SCAIVAULT_TLS_KEY_FILE", "", "PEM private key"],
  ["SCAIVAULT_LOG_LEVEL", "info", "`debug`, `info`, `warn` or `error`"],
  ["SCAIVAULT_MAX_BODY_BYTES", "1048576", "Request body limit (413 above); a secret's `data` is limited to 64 KiB"],
  ["SCAIVAULT_SOFT_DELETE_RETENTION", "30d", "How long a soft-deleted secret can be restored"],
  ["SCAIVAULT_BATCH_PUT_MAX_ITEMS", "1000", "Most items one `POST /v1/secrets:batchPut` (BatchPutSecrets) may carry; the body limit applies too"],
  ["SCAIVAULT_LIST_COUNT_LIMIT", "10000", "A listing's total_count is exact up to this many matches; beyond it the answer says total_count_exact: false"],
  ["SCAIVAULT_PURGE_CRON", "17 * * * *", "Cron pattern of the soft-delete purge job"],
  ["SCAIVAULT_ACCESS_FLUSH_MS", "1000", "How often read counts are flushed"],
  ["SCAIVAULT_SHUTDOWN_TIMEOUT", "10s", "Grace for in-flight requests on SIGTERM"],
  ["SCAIVAULT_MAX_CALL_DURATION", "5m", "Longest a unary call may run (`1s` to `24h`); longer or missing client deadlines (`grpc-timeout`, `connect-timeout-ms`) are cut to it; past it the call ends with `DEADLINE_EXCEEDED` / 504"],
  ["SCAIVAULT_CORS_ORIGINS", "", "Comma list of browser origins allowed to call across origins (`*` for any); none by default"],
  ["SCAIVAULT_DB_POOL_SIZE", "10", "PostgreSQL connections per replica"],
  ["SCAIVAULT_DB_PREPARED_STATEMENTS", "true", "Prepare statements once per PostgreSQL connection (see Operations); `false` behind a pooler that cannot keep them"],
  ["SCAIVAULT_DB_CONNECT_TIMEOUT", "5s", "How long getting a PostgreSQL connection may take (connecting, or waiting for a free one) before a call answers `503 unavailable`"],
  ["SCAIVAULT_DB_STATEMENT_TIMEOUT", "5s", "Longest a PostgreSQL statement may run: PostgreSQL cancels it (`statement_timeout`), a server that does not answer at all is given up 0.5 s later; the call answers `503 unavailable`. `0s`: unbounded"],
  ["SCAIVAULT_DB_LISTEN_HEARTBEAT", "1s", "How often a replica's LISTEN connection notifies itself to prove change notices still arrive; 1.5 × this without proof and the replica's read caches are bypassed, 2 × and the connection is replaced"],
  ["SCAIVAULT_READY_TIMEOUT", "2s", "How long `/readyz` and gRPC health wait for the database before saying not serving (`503`)"],
  ["SCAIVAULT_HEADERS_TIMEOUT", "10s", "How long an HTTP/1.1 client may take to send a request's headers: a slower one gets `408` and its connection is closed within this time"],
  ["SCAIVAULT_REQUEST_TIMEOUT", "30s", "How long a client may take to send a whole request, headers and body (at least the header timeout): an HTTP/1.1 request gets `408` and its connection closes, an HTTP/2 stream whose body is still open is reset (`RST_STREAM CANCEL`). Watch streams are not affected: their request ends at once"],
  ["SCAIVAULT_HTTP2_IDLE_TIMEOUT", "30s", "How long an HTTP/2 connection with no open stream is kept before the server closes it (`GOAWAY`); an open stream, a watch included, keeps it"],
  ["SCAIVAULT_MAX_CONNECTIONS", "10000", "Most TCP connections a replica holds open; more are closed as they arrive"],
  ["SCAIVAULT_MAX_CONNECTIONS_PER_IP", "1000", "Most TCP connections from one client address; more are closed as they arrive (`0`: no per-address cap, e.g. behind a proxy all clients share)"],
  ["SCAIVAULT_SECRET_CACHE_ENTRIES", "10000", "Secrets whose encrypted rows a replica keeps for reads, least recently read dropped first (`0` turns the cache off)"],
  ["SCAIVAULT_TOKEN_CACHE_ENTRIES", "10000", "Verified tokens remembered until they expire (`0` turns the cache off)"],
  ["SCAIVAULT_AUDIT_BATCH_MAX", "500", "Most read audit entries one group-commit INSERT carries (`1`: each read writes its own)"],
  ["SCAIVAULT_KEY_CACHE_ENTRIES", "10000", "Unwrapped tenant data keys (and tenants' partners) a replica keeps in memory, least recently used dropped first; everything a replica keeps per tenant, token or secret is bounded by this or the two cache settings above"],
  ["SCAIVAULT_SCHEDULER_ENABLED", "true", "Run the rotation scheduler in this replica"],
  ["SCAIVAULT_SCHEDULER_TICK", "30s", "Time between rotation scheduler ticks"],
  ["SCAIVAULT_SCHEDULER_BATCH", "100", "Rotation assignments claimed per transaction"],
  ["SCAIVAULT_EXPIRY_WARNINGS", "30d,7d,1d", "How long before a secret's `expires_at` `secret.expiring` is sent: a comma list of durations up to `365d`, or `off`; checked on the scheduler's tick"],
  ["SCAIVAULT_WEBHOOK_TIMEOUT", "10s", "Timeout of one webhook delivery attempt (1 s to 2 min)"],
  ["SCAIVAULT_WEBHOOK_ALLOW_HOSTS", "", "Comma list of hosts, IPs or CIDR ranges webhooks (and rotation providers' targets and propagation checks) may reach although private or loopback"],
  ["SCAIVAULT_WEBHOOK_POLL", "1s", "How often the webhook worker fans out events and sends due deliveries (notification channels too)"],
  ["SCAIVAULT_WATCH_MAX_STREAMS", "1000", "Watch streams one tenant may hold open on one replica; more are `rate_limited`"],
  ["SCAIVAULT_WATCH_HEARTBEAT", "15s", "Idle time after which a watch stream gets a heartbeat (1 s to 5 min)"],
  ["SCAIVAULT_SMTP_URL", "", "SMTP server of email notification channels (`smtp://user:pass@host:587`, `smtps://…`)"],
  ["SCAIVAULT_SMTP_FROM", "ScaiVault <scaivault@localhost>", "From address of notification emails"],
  ["SCAIVAULT_PUBLIC_URL", "", "Base URL of the console; notifications link to `<url>/ui/…` when set"],
  ["SCAIVAULT_METRICS", "on", "Prometheus `/metrics`: `on` (the service's port), `off`, or a port number for a listener of its own on `HOST`"],
  ["SCAIVAULT_AUDIT_RETENTION", "2557d", "How long audit entries are kept (7 years)"],
  ["SCAIVAULT_EVENT_RETENTION", "30d", "How long events, finished webhook deliveries and delivery attempts are kept"],
  ["SCAIVAULT_RETENTION_CRON", "23 3 * * *", "Cron pattern of the retention purge job"],
  ["SCAIVAULT_RETENTION_BATCH", "1000", "Rows the retention job deletes per statement"],
  ["SCAIVAULT_VAULT_MOUNTS", "secret=", "Vault KV v2 mounts: comma list of name=path-prefix (secret= is the whole path space, kv=teams/ a part of it), or off"],
] as const;

type Env = Record<string, string | undefined>;

/** Reads and validates every setting; throws one error listing every problem. */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  const problems: string[] = [];
  const get = (name: string) => {
    const row = settings.find((s) => s[0] === name);
    const v = env[name];
    return v === undefined || v === "" ? (row?.[1] ?? "") : v;
  };
  const int = (name: string, min: number, max: number) => {
    const raw = get(name);
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}`);
      return min;
    }
    return n;
  };
  const seconds = (name: string) => {
    try {
      return parseDuration(get(name));
    } catch {
      problems.push(`${name} must be a duration such as 30s, 10m, 48h or 30d`);
      return 1;
    }
  };
  const bool = (name: string) => {
    const raw = get(name).toLowerCase();
    if (!["true", "false", "1", "0"].includes(raw)) problems.push(`${name} must be true or false`);
    return raw === "true" || raw === "1";
  };
  const optional = (name: string) => get(name) || undefined;

  const masterKey = optional("SCAIVAULT_MASTER_KEY");
  if (masterKey && Buffer.from(masterKey, "base64").length !== 32) {
    problems.push("SCAIVAULT_MASTER_KEY must be base64 of exactly 32 bytes");
  }
  const databaseUrl = optional("DATABASE_URL");
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) problems.push("DATABASE_URL must be a postgres:// URL");
  const jwksUrl = optional("SCAIVAULT_JWKS_URL");
  if (jwksUrl && !/^https?:\/\//.test(jwksUrl)) problems.push("SCAIVAULT_JWKS_URL must be an http(s) URL");
  const certFile = optional("SCAIVAULT_TLS_CERT_FILE");
  const keyFile = optional("SCAIVAULT_TLS_KEY_FILE");
  if (Boolean(certFile) !== Boolean(keyFile)) {
    problems.push("SCAIVAULT_TLS_CERT_FILE and SCAIVAULT_TLS_KEY_FILE must be set together");
  } else if (certFile && keyFile) {
    problems.push(...tlsFileProblems(certFile, keyFile));
  }
  problems.push(...jwtKeyProblems(optional("SCAIVAULT_JWT_SECRET"), optional("SCAIVAULT_JWT_PUBLIC_KEY")));
  const logLevel = get("SCAIVAULT_LOG_LEVEL");
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    problems.push("SCAIVAULT_LOG_LEVEL must be debug, info, warn or error");
  }
  const corsOrigins = get("SCAIVAULT_CORS_ORIGINS").split(",").map((o) => o.trim()).filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== "*" && !/^https?:\/\/[^/]+$/.test(origin)) problems.push(`SCAIVAULT_CORS_ORIGINS: ${origin} is not an origin such as https://app.example.com`);
  }
  const purgeCron = get("SCAIVAULT_PURGE_CRON");
  if (!isCronPattern(purgeCron)) problems.push("SCAIVAULT_PURGE_CRON must be a cron pattern");

  const metricsSetting = get("SCAIVAULT_METRICS").trim().toLowerCase();
  let metrics: Config["metrics"] = { mode: "service-port" };
  if (metricsSetting === "off" || metricsSetting === "false") metrics = { mode: "off" };
  else if (/^\d+$/.test(metricsSetting) && Number(metricsSetting) <= 65535) metrics = { mode: "own-port", port: Number(metricsSetting) };
  else if (metricsSetting !== "on" && metricsSetting !== "true") problems.push("SCAIVAULT_METRICS must be on, off or a port number (0 to 65535; 0 picks a free one)");
  const retentionCron = get("SCAIVAULT_RETENTION_CRON");
  if (!isCronPattern(retentionCron)) problems.push("SCAIVAULT_RETENTION_CRON must be a cron pattern");

  const webhookTimeoutSeconds = seconds("SCAIVAULT_WEBHOOK_TIMEOUT");
  if (webhookTimeoutSeconds > 120) problems.push("SCAIVAULT_WEBHOOK_TIMEOUT must be at most 2m");
  const webhookAllowHosts = get("SCAIVAULT_WEBHOOK_ALLOW_HOSTS").split(",").map((h) => h.trim()).filter(Boolean);
  try {
    parseAllowListEntries(webhookAllowHosts);
  } catch (err) {
    problems.push(`SCAIVAULT_WEBHOOK_ALLOW_HOSTS: ${(err as Error).message}`);
  }

  const maxCallSeconds = seconds("SCAIVAULT_MAX_CALL_DURATION");
  if (maxCallSeconds < 1 || maxCallSeconds > 86_400) problems.push("SCAIVAULT_MAX_CALL_DURATION must be from 1s to 24h");
  const smtpUrl = optional("SCAIVAULT_SMTP_URL");
  if (smtpUrl && !/^smtps?:\/\/[^/]/.test(smtpUrl)) problems.push("SCAIVAULT_SMTP_URL must be an smtp:// or smtps:// URL");
  const publicUrl = optional("SCAIVAULT_PUBLIC_URL")?.replace(/\/+$/, "");
  if (publicUrl && !/^https?:\/\/[^/]+/.test(publicUrl)) problems.push("SCAIVAULT_PUBLIC_URL must be an http(s) URL");
  const expiryWarnings = parseExpiryWarnings(get("SCAIVAULT_EXPIRY_WARNINGS"));
  if (!expiryWarnings) problems.push("SCAIVAULT_EXPIRY_WARNINGS must be off or a comma list of durations up to 365d, such as 30d,7d,1d");
  const heartbeatSeconds = seconds("SCAIVAULT_WATCH_HEARTBEAT");
  if (heartbeatSeconds < 1 || heartbeatSeconds > 300) problems.push("SCAIVAULT_WATCH_HEARTBEAT must be from 1s to 5m");

  const vaultMounts = parseVaultMounts(get("SCAIVAULT_VAULT_MOUNTS"));
  problems.push(...vaultMounts.problems);

  const config: Config = {
    port: int("PORT", 0, 65535),
    host: get("HOST"),
    databaseUrl,
    dataDir: get("SCAIVAULT_DATA_DIR"),
    masterKey,
    jwt: {
      secret: optional("SCAIVAULT_JWT_SECRET"),
      publicKey: optional("SCAIVAULT_JWT_PUBLIC_KEY"),
      jwksUrl,
      issuer: optional("SCAIVAULT_JWT_ISSUER"),
      audience: optional("SCAIVAULT_JWT_AUDIENCE"),
      clockSkewSeconds: seconds("SCAIVAULT_JWT_CLOCK_SKEW"),
    },
    tls: certFile && keyFile ? { certFile, keyFile } : undefined,
    logLevel: logLevel as Config["logLevel"],
    maxBodyBytes: int("SCAIVAULT_MAX_BODY_BYTES", 1024, 64 * 1024 * 1024),
    softDeleteRetentionSeconds: seconds("SCAIVAULT_SOFT_DELETE_RETENTION"),
    listCountLimit: int("SCAIVAULT_LIST_COUNT_LIMIT", 1, 10_000_000),
    batchPutMaxItems: int("SCAIVAULT_BATCH_PUT_MAX_ITEMS", 1, 100_000),
    purgeCron,
    accessFlushMs: int("SCAIVAULT_ACCESS_FLUSH_MS", 10, 3_600_000),
    shutdownTimeoutMs: seconds("SCAIVAULT_SHUTDOWN_TIMEOUT") * 1000,
    maxCallMs: maxCallSeconds * 1000,
    dbPoolSize: int("SCAIVAULT_DB_POOL_SIZE", 1, 1000),
    dbConnectTimeoutMs: seconds("SCAIVAULT_DB_CONNECT_TIMEOUT") * 1000,
    dbPreparedStatements: bool("SCAIVAULT_DB_PREPARED_STATEMENTS"),
    dbStatementTimeoutMs: seconds("SCAIVAULT_DB_STATEMENT_TIMEOUT") * 1000,
    dbListenHeartbeatMs: Math.max(1, seconds("SCAIVAULT_DB_LISTEN_HEARTBEAT")) * 1000,
    readyTimeoutMs: Math.max(1, seconds("SCAIVAULT_READY_TIMEOUT")) * 1000,
    headersTimeoutMs: seconds("SCAIVAULT_HEADERS_TIMEOUT") * 1000,
    connections: {
      requestTimeoutMs: Math.max(1, seconds("SCAIVAULT_REQUEST_TIMEOUT")) * 1000,
      http2IdleTimeoutMs: Math.max(1, seconds("SCAIVAULT_HTTP2_IDLE_TIMEOUT")) * 1000,
      max: int("SCAIVAULT_MAX_CONNECTIONS", 1, 1_000_000),
      maxPerIp: int("SCAIVAULT_MAX_CONNECTIONS_PER_IP", 0, 1_000_000),
    },
    corsOrigins,
    readPath: {
      secretCacheEntries: int("SCAIVAULT_SECRET_CACHE_ENTRIES", 0, 10_000_000),
      tokenCacheEntries: int("SCAIVAULT_TOKEN_CACHE_ENTRIES", 0, 10_000_000),
      auditBatchMax: int("SCAIVAULT_AUDIT_BATCH_MAX", 1, 10_000),
      keyCacheEntries: int("SCAIVAULT_KEY_CACHE_ENTRIES", 1, 10_000_000),
    },
    scheduler: {
      enabled: bool("SCAIVAULT_SCHEDULER_ENABLED"),
      tickSeconds: seconds("SCAIVAULT_SCHEDULER_TICK"),
      batchSize: int("SCAIVAULT_SCHEDULER_BATCH", 1, 10_000),
    },
    expiryWarnings: expiryWarnings ?? [],
    watch: {
      maxStreamsPerTenant: int("SCAIVAULT_WATCH_MAX_STREAMS", 1, 1_000_000),
      heartbeatMs: heartbeatSeconds * 1000,
    },
    notifications: {
      smtpUrl,
      smtpFrom: get("SCAIVAULT_SMTP_FROM"),
      publicUrl,
    },
    metrics,
    retention: {
      auditSeconds: seconds("SCAIVAULT_AUDIT_RETENTION"),
      eventSeconds: seconds("SCAIVAULT_EVENT_RETENTION"),
      cron: retentionCron,
      batchSize: int("SCAIVAULT_RETENTION_BATCH", 1, 100_000),
    },
    webhooks: {
      timeoutMs: webhookTimeoutSeconds * 1000,
      allowHosts: webhookAllowHosts,
      pollMs: seconds("SCAIVAULT_WEBHOOK_POLL") * 1000,
    },
    vaultMounts: vaultMounts.mounts,
  };
  if (problems.length > 0) {
    throw new Error(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
  return Object.freeze(config);
}
