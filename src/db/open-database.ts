import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { connectEmbedded, connectPostgres, type DatabaseHandle } from "./database.js";
import { migrateToLatest } from "./migrations.js";

/** Opens the configured database: PostgreSQL when DATABASE_URL is set, else embedded PGlite in the data dir. */
export async function openDatabase(config: Readonly<Config>, logger?: Logger): Promise<DatabaseHandle> {
  return config.databaseUrl
    ? connectPostgres(config.databaseUrl, {
        poolSize: config.dbPoolSize,
        onIdleError: (err) => logger?.warn("database connection lost", { err: err.message }),
        connectTimeoutMs: config.dbConnectTimeoutMs,
        preparedStatements: config.dbPreparedStatements,
        statementTimeoutMs: config.dbStatementTimeoutMs,
        listenHeartbeatMs: config.dbListenHeartbeatMs,
      })
    : connectEmbedded(config.dataDir);
}

/**
 * Brings the schema up to date. On PostgreSQL through a connection of its own without the
 * statement deadline, which a migration (an index built over a large table) may well exceed.
 */
export async function migrateDatabase(config: Readonly<Config>, database: DatabaseHandle): Promise<string[]> {
  if (database.kind === "embedded" || !config.databaseUrl) return migrateToLatest(database.db);
  const unbounded = connectPostgres(config.databaseUrl, {
    poolSize: 1,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    preparedStatements: false,
    statementTimeoutMs: 0,
  });
  try {
    return await migrateToLatest(unbounded.db);
  } finally {
    await unbounded.close();
  }
}
