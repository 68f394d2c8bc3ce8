import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

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
