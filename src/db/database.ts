import { Kysely, PostgresDialect, type Transaction } from "kysely";
import pg from "pg";
import type { Database } from "./schema.js";
import { createPGliteDialect } from "./pglite-dialect.js";

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: stores take this first. */
export type Executor = Db | Tx;

/** A connected database and how to close it. */
export interface DatabaseHandle {
  db: Db;
  kind: "postgres" | "embedded";
  close(): Promise<void>;
}

const INT8 = 20;
const DATE = 1082;

/** Connects to PostgreSQL through `pg`. */
export function connectPostgres(url: string, poolSize = 10, onIdleError?: (err: Error) => void): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
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
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, kind: "postgres", close: () => db.destroy() };
}

/** Opens the embedded PGlite database, persistent in `dataDir` (or in memory for `memory://`). */
export async function connectEmbedded(dataDir: string): Promise<DatabaseHandle> {
  const { PGlite, types } = await import("@electric-sql/pglite");
  const pglite = await PGlite.create(dataDir, {
    parsers: { [types.INT8]: (v: string) => Number(v), [types.DATE]: (v: string) => v },
  });
  const db = new Kysely<Database>({ dialect: createPGliteDialect(pglite) });
  return {
    db,
    kind: "embedded",
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

/** Runs `work` in a transaction. */
export function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction().execute(work);
}
