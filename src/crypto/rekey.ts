import { randomBytes } from "node:crypto";
import type { Config } from "../config.js";
import type { Db } from "../db/database.js";
import type { Logger } from "../log.js";
import { rewrapDataKeys } from "./envelope.js";
import { loadMasterKey, masterKeyFromBytes, writeMasterKeyFile, type MasterKey } from "./master-key.js";

/**
 * Master-key rotation: re-wraps every tenant data key under a new master key in one transaction.
 * Secret rows are not touched. With a configured key the new one comes from `newKeyBase64`; the
 * embedded default generates one and replaces its key file after the database commit.
 */
export async function rotateMasterKey(options: {
  db: Db;
  config: Pick<Config, "masterKey" | "dataDir">;
  newKeyBase64?: string;
  logger: Logger;
}): Promise<{ from: MasterKey; to: MasterKey; rewrapped: number }> {
  const from = await loadMasterKey({ configured: options.config.masterKey, dataDir: options.config.dataDir, logger: options.logger });
  if (options.config.masterKey && !options.newKeyBase64) {
    throw new Error("SCAIVAULT_NEW_MASTER_KEY (base64 of 32 bytes) is required when SCAIVAULT_MASTER_KEY is configured");
  }
  const bytes = options.newKeyBase64 ? Buffer.from(options.newKeyBase64, "base64") : randomBytes(32);
  if (bytes.length !== 32) throw new Error("the new master key must be base64 of 32 bytes");
  const to = masterKeyFromBytes(bytes);
  const rewrapped = await rewrapDataKeys(options.db, from, to);
  if (!options.config.masterKey) await writeMasterKeyFile(options.config.dataDir, to);
  return { from, to, rewrapped };
}
