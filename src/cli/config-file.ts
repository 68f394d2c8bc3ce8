import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { ScaiVaultError } from "../../clients/typescript/src/index.js";

/** The protocols the CLI can speak. */
export type Protocol = "connect" | "grpc" | "grpc-web";

/** True for a protocol name the CLI accepts. */
export function isProtocol(value: unknown): value is Protocol {
  return value === "connect" || value === "grpc" || value === "grpc-web";
}

/** What `scaivault login` saves. */
export interface CliConfig {
  url?: string;
  token?: string;
  protocol?: Protocol;
}

/** `SCAIVAULT_CONFIG`, else `$XDG_CONFIG_HOME/scaivault/config.json`, else `~/.config/scaivault/config.json`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.SCAIVAULT_CONFIG) return env.SCAIVAULT_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "scaivault", "config.json");
}

/** The saved settings; empty when nothing was saved yet. */
export async function readConfig(path: string): Promise<CliConfig> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as CliConfig;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Saves the settings readable by the owner only (0600, in a 0700 directory when it creates one): the file holds a token. */
export async function writeConfig(path: string, config: CliConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  await chmod(path, 0o600); // the mode above only applies when the file is new
}

/**
 * `--token-file PATH`: the token is the file's content (surrounding whitespace dropped), read
 * again whenever the file changes (another inode, size or modification time), so a sidecar that
 * refreshes the token by replacing the file is followed without a restart.
 */
export function tokenFileReader(path: string): () => Promise<string> {
  let seen: { key: string; token: string } | undefined;
  return async () => {
    try {
      const info = await stat(path);
      const key = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (seen?.key !== key) {
        const token = (await readFile(path, "utf8")).trim();
        if (!token) throw new ScaiVaultError("unauthenticated", `the token file ${path} is empty`);
        seen = { key, token };
      }
      return seen.token;
    } catch (err) {
      if (err instanceof ScaiVaultError) throw err;
      throw new ScaiVaultError("unauthenticated", `cannot read the token file ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
    }
  };
}
