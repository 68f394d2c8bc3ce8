import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config.js";

/** The file the embedded default keeps its generated HS256 development secret in. */
export function devJwtSecretFile(dataDir: string): string {
  return join(dataDir, "jwt.secret");
}

/**
 * The key source for token verification: the configured one, or for a fresh development setup a
 * generated HS256 secret kept (0600) in the data directory, so `npm run token` can mint tokens.
 */
export async function resolveTokenKeys(config: Pick<Config, "jwt" | "dataDir">, create = true) {
  const { jwt } = config;
  if (jwt.jwksUrl || jwt.publicKey || jwt.secret) {
    return { jwksUrl: jwt.jwksUrl, publicKey: jwt.publicKey, secret: jwt.secret, generated: false };
  }
  const file = devJwtSecretFile(config.dataDir);
  try {
    return { secret: (await readFile(file, "utf8")).trim(), generated: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !create) throw err;
  }
  const secret = randomBytes(32).toString("base64url");
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await writeFile(file, secret + "\n", { mode: 0o600, flag: "wx" }).catch(async (err) => {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  });
  return { secret: (await readFile(file, "utf8")).trim(), generated: true };
}
