import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { connectEmbedded, connectPostgres, type DatabaseHandle } from "./database.js";

/** Opens the configured database: PostgreSQL when DATABASE_URL is set, else embedded PGlite in the data dir. */
export async function openDatabase(config: Readonly<Config>, logger?: Logger): Promise<DatabaseHandle> {
  return config.databaseUrl
    ? connectPostgres(config.databaseUrl, {
        poolSize: config.dbPoolSize,
        onIdleError: (err) => logger?.warn("database connection lost", { err: err.message }),
        connectTimeoutMs: config.dbConnectTimeoutMs,
        preparedStatements: config.dbPreparedStatements,
      })
    : connectEmbedded(config.dataDir);
}
