import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile, rename, chmod } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log.js";

/** The key that wraps every tenant's data keys. Kept in a Buffer, never in a string. */
export interface MasterKey {
  /** Identifies the key without revealing it: lets a replica notice a data key wrapped by another master key. */
  id: string;
  bytes: Buffer;
}

/** Builds a MasterKey from 32 raw bytes. */
export function masterKeyFromBytes(bytes: Buffer): MasterKey {
  if (bytes.length !== 32) throw new Error("a master key is 32 bytes");
  const id = createHash("sha256").update("scaivault-master-key-id\0").update(bytes).digest("hex").slice(0, 16);
  return { id, bytes };
}

/** The file the embedded default keeps its generated master key in. */
export function masterKeyFile(dataDir: string): string {
  return join(dataDir, "master.key");
}

/**
 * Loads the master key from configuration, or for the embedded default from (or into) a 0600 key file
 * in the data directory, with a warning that this is a development setup.
 */
export async function loadMasterKey(options: {
  configured?: string;
  dataDir: string;
  logger: Logger;
}): Promise<MasterKey> {
  if (options.configured) return masterKeyFromBytes(Buffer.from(options.configured, "base64"));
  const file = masterKeyFile(options.dataDir);
  try {
    const text = await readFile(file, "utf8");
    options.logger.warn("using the master key file in the data directory: a development setup; set SCAIVAULT_MASTER_KEY in production", { file });
    return masterKeyFromBytes(Buffer.from(text.trim(), "base64"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const key = masterKeyFromBytes(randomBytes(32));
  await writeMasterKeyFile(options.dataDir, key);
  options.logger.warn("generated a master key file in the data directory: a development setup; set SCAIVAULT_MASTER_KEY in production", { file });
  return key;
}

/** Writes the key file atomically with mode 0600. */
export async function writeMasterKeyFile(dataDir: string, key: MasterKey): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = masterKeyFile(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, key.bytes.toString("base64") + "\n", { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
