import { migrateDatabase, openDatabase } from "../db/open-database.js";
import { loadConfig } from "../config.js";

/** `npm run migrate`: brings the configured database's schema up to date. */
async function main() {
  const config = loadConfig();
  const database = await openDatabase(config);
  try {
    const applied = await migrateDatabase(config, database);
    process.stdout.write(applied.length ? `applied: ${applied.join(", ")}\n` : "schema is up to date\n");
  } finally {
    await database.close();
  }
}

main().catch((err) => {
  process.stderr.write(`migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
