import { openDatabase } from "../db/open-database.js";
import { loadConfig } from "../config.js";
import { migrateToLatest } from "../db/migrations.js";
import { createLogger } from "../log.js";
import { rotateMasterKey } from "../crypto/rekey.js";

/** `npm run rekey`: re-wraps every data key under a new master key (SCAIVAULT_NEW_MASTER_KEY, or generated for the embedded default). */
async function main() {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, write: (l) => process.stderr.write(l + "\n") });
  const database = await openDatabase(config);
  try {
    await migrateToLatest(database.db);
    const r = await rotateMasterKey({ db: database.db, config, newKeyBase64: process.env.SCAIVAULT_NEW_MASTER_KEY, logger });
    logger.info("master key rotated", { from: r.from.id, to: r.to.id, rewrapped: r.rewrapped });
    if (config.masterKey) process.stderr.write("Now set SCAIVAULT_MASTER_KEY to the new key and restart every replica.\n");
    else process.stderr.write("The key file in the data directory now holds the new key; restart the service.\n");
  } finally {
    await database.close();
  }
}

main().catch((err) => {
  process.stderr.write(`rekey: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
