import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { UsageError } from "../cli.js";

/** Where one environment variable (or a whole secret's worth of them) comes from. */
export type EnvSource = { kind: "secret"; path: string } | { kind: "env"; name: string; path: string; key: string };

/** A secret as delivery uses it: its current version and its data. */
export interface LoadedSecret {
  version: number;
  data: JsonObject;
}

/**
 * A key of a secret as a variable name: upper-cased, every character outside `[A-Z0-9_]` turned
 * into `_`, and a leading digit prefixed with `_` (a shell cannot name `1KEY`).
 */
export function envNameOf(key: string): string {
  const name = key.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/** A value as an environment variable holds it: strings as they are, anything else as JSON. */
export function envValueOf(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

const envFlag = /^([A-Za-z_][A-Za-z0-9_]*)=([^#]+)#(.+)$/;

/** `NAME=PATH#KEY` of `--env`. */
export function parseEnvFlag(text: string): EnvSource {
  const match = envFlag.exec(text);
  if (!match) throw new UsageError(`--env takes NAME=PATH#KEY (NAME a variable name), got "${text}"`);
  return { kind: "env", name: match[1]!, path: match[2]!, key: match[3]! };
}

/** The paths the sources read, each once, in order. */
export function sourcePaths(sources: EnvSource[]): string[] {
  return [...new Set(sources.map((s) => s.path))];
}

/**
 * The variables the sources give, later sources winning over earlier ones. Two `--secret` paths
 * that give the same variable are refused, naming both (which one should win is a guess); a named
 * `--env` whose key the secret lacks is refused too. Messages name keys and paths, never values.
 */
export function buildEnv(sources: EnvSource[], secrets: Map<string, LoadedSecret>, clashHint = "; name one of them with --env"): Record<string, string> {
  const env: Record<string, string> = {};
  const fromSecret = new Map<string, { path: string; key: string }>();
  for (const source of sources) {
    const secret = secrets.get(source.path);
    if (!secret) throw new UsageError(`the secret ${source.path} was not read`);
    if (source.kind === "env") {
      const value = secret.data[source.key];
      if (value === undefined || value === null) throw new UsageError(`--env ${source.name}: the secret ${source.path} has no key "${source.key}"`);
      env[source.name] = envValueOf(value);
      fromSecret.delete(source.name);
      continue;
    }
    for (const [key, value] of Object.entries(secret.data)) {
      if (value === null) continue;
      const name = envNameOf(key);
      const other = fromSecret.get(name);
      if (other !== undefined && other.path !== source.path) {
        throw new UsageError(`--secret ${other.path} and --secret ${source.path} both set ${name}${clashHint}`);
      }
      if (other !== undefined && other.key !== key) throw new UsageError(`the keys "${other.key}" and "${key}" of ${source.path} both become ${name}`);
      fromSecret.set(name, { path: source.path, key });
      env[name] = envValueOf(value);
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (value.includes("\0")) throw new UsageError(`the value of ${name} holds a NUL character, which an environment variable cannot`);
  }
  return env;
}
