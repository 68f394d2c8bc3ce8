import { Kysely, PostgresDialect, sql, type Transaction } from "kysely";
import pg from "pg";
import type { Database } from "./schema.js";
import { prepareDataDir, restrictDataDirModes } from "./data-dir.js";
import { createPGliteDialect } from "./pglite-dialect.js";
import { ServiceClient, type ServiceClientOptions } from "./service-client.js";
import { createSharedListener, type Listen } from "./shared-listener.js";

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: stores take this first. */
export type Executor = Db | Tx;

export type { Listen } from "./shared-listener.js";

/** A connected database and how to close it. */
export interface DatabaseHandle {
  db: Db;
  kind: "postgres" | "embedded";
  /** LISTEN/NOTIFY: how replicas tell each other about changes, through PostgreSQL itself. */
  listen: Listen;
  /**
   * Whether notices are known to arrive: every change committed up to a moment ago has been
   * heard. Caches fed by notices serve only while this holds (always, for the embedded database).
   */
  coherent(): boolean;
  /** Connections of the PostgreSQL pool (absent for the embedded database, which has one). */
  poolStats?(): { total: number; idle: number; waiting: number; max: number };
  /** Whether the database answers `select 1` within `timeoutMs` (readiness); probes in flight are shared. */
  ping(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const INT8 = 20;
const DATE = 1082;

export interface PostgresOptions {
  /** Connections of the pool (default 10). */
  poolSize?: number;
  /** Hears of connections lost while idle or in use (restart, failover; the pool replaces them). */
  onIdleError?: (err: Error) => void;
  /** Bounds getting a connection (connecting, or waiting for a free one), after which the call fails as unavailable (default 5 s). */
  connectTimeoutMs?: number;
  /** Prepare the app's statements once per connection (`ServiceClient`; default true). */
  preparedStatements?: boolean;
  /**
   * Bounds each statement (default 5 s; 0: unbounded, for migrations): PostgreSQL cancels it at
   * this bound (`statement_timeout`), and a server that does not answer at all (frozen, partitioned)
   * is given up on `statementGraceMs` later, its connection abandoned. Either way the call fails as
   * unavailable. A transaction left idle twice as long is ended by the server, so a stalled replica
   * cannot hold row locks.
   */
  statementTimeoutMs?: number;
  /** How often the listening connection proves it still hears notices (default 1 s). */
  listenHeartbeatMs?: number;
}

/** How long after `statement_timeout` a statement without any answer is given up on client side. */
export const statementGraceMs = 500;

/** Connects to PostgreSQL through `pg`. */
export function connectPostgres(url: string, options: PostgresOptions = {}): DatabaseHandle {
  const { poolSize = 10, onIdleError, connectTimeoutMs = 5_000, preparedStatements = true, statementTimeoutMs = 5_000, listenHeartbeatMs = 1_000 } = options;
  const clientOptions: ServiceClientOptions = {
    prepareStatements: preparedStatements,
    // A database that does not answer must not hold calls past their deadline: they fail as unavailable.
    connectionTimeoutMillis: connectTimeoutMs,
    ...(statementTimeoutMs > 0 ? { query_timeout: statementTimeoutMs + statementGraceMs } : {}),
    // Idle connections to a host that vanished are found out by the kernel, not only on next use.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    Client: ServiceClient,
    ...clientOptions,
    types: {
      getTypeParser: ((oid: number, format?: string) => {
        if (oid === INT8) return (v: string) => Number(v);
        if (oid === DATE) return (v: string) => v;
        return pg.types.getTypeParser(oid, format as "text");
      }) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection dropped by the server (restart, failover) must not crash the process;
  // the pool replaces it on the next checkout.
  pool.on("error", (err) => onIdleError?.(err));
  // pg-pool listens for errors only while a client is idle; one checked out when the server goes
  // away (57P01 on restart, ECONNRESET) would emit 'error' with no listener and end the process.
  // The query in flight fails on its own and the pool drops the client on release.
  pool.on("connect", (client) => {
    client.on("error", (err) => onIdleError?.(err));
    // Set as the connection's first statement (it queues before the caller's), not as a startup
    // parameter, which poolers such as PgBouncer refuse.
    if (statementTimeoutMs > 0) {
      void client.query(sessionDeadlines(statementTimeoutMs)).catch((err: Error) => onIdleError?.(err));
    }
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const listener = createSharedListener(url, { clientOptions, heartbeatMs: listenHeartbeatMs, onError: onIdleError });
  return {
    db,
    kind: "postgres",
    listen: listener.listen,
    coherent: listener.coherent,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize }),
    ping: createPing(db),
    close: async () => {
      await listener.close();
      await db.destroy();
    },
  };
}

/** How often the embedded data directory's new files are made private (PGlite creates them 0666). */
const dataDirModeSweepMs = 60_000;

/** Opens the embedded PGlite database, persistent in `dataDir` (or in memory for `memory://`). */
export async function connectEmbedded(dataDir: string): Promise<DatabaseHandle> {
  const onDisk = !dataDir.includes("://");
  if (onDisk) await prepareDataDir(dataDir);
  const { PGlite, types } = await import("@electric-sql/pglite");
  const pglite = await PGlite.create(dataDir, {
    parsers: { [types.INT8]: (v: string) => Number(v), [types.DATE]: (v: string) => v },
  });
  let sweep: NodeJS.Timeout | undefined;
  if (onDisk) {
    await restrictDataDirModes(dataDir);
    sweep = setInterval(() => void restrictDataDirModes(dataDir).catch(() => {}), dataDirModeSweepMs);
    sweep.unref();
  }
  const db = new Kysely<Database>({ dialect: createPGliteDialect(pglite) });
  return {
    db,
    kind: "embedded",
    // One process owns the embedded database, so nothing is ever missed: onReset is not needed.
    listen: async (channel, onNotice) => {
      const unsubscribe = await pglite.listen(channel, onNotice);
      return async () => unsubscribe();
    },
    coherent: () => true,
    ping: createPing(db),
    close: async () => {
      clearInterval(sweep);
      await db.destroy();
      await pglite.close();
      if (onDisk) await restrictDataDirModes(dataDir);
    },
  };
}

/** The session settings that bound each statement and each idle transaction of a connection. */
function sessionDeadlines(statementTimeoutMs: number): string {
  return `set statement_timeout = ${Math.round(statementTimeoutMs)}; set idle_in_transaction_session_timeout = ${Math.round(statementTimeoutMs * 2)}`;
}

/** A readiness probe with its own deadline; callers arriving while one is in flight share it. */
function createPing(db: Db): DatabaseHandle["ping"] {
  let inFlight: Promise<boolean> | undefined;
  return (timeoutMs) => {
    inFlight ??= sql`select 1`.execute(db).then(
      () => true,
      () => false,
    ).finally(() => (inFlight = undefined));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    return Promise.race([inFlight, deadline]).finally(() => clearTimeout(timer));
  };
}

/** Runs `work` in a transaction. */
export function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction().execute(work);
}
