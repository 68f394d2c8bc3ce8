import type { JsonObject } from "@bufbuild/protobuf";
import { buildEnv } from "./secret-env.js";
import type { SecretSet } from "./secret-feed.js";
import { renderTemplate, type TemplatePart } from "./template.js";

/** What one template of the agent renders. */
export type RenderSpec = { format: "dotenv"; secrets: string[] } | { format: "json"; secrets: string[] } | { format: "template"; parts: TemplatePart[] };

/**
 * A value in POSIX shell single quotes: everything inside is literal (no `$`, backquote or
 * backslash expansion, newlines kept), and a `'` is written as `'\''` (close, escaped quote,
 * reopen). `set -a; . ./app.env` reads it back exactly and runs nothing.
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `NAME='value'` lines, the names as `scaivault run --secret` makes them (clashes refused). */
export function renderDotenv(paths: string[], secrets: SecretSet): string {
  const env = buildEnv(
    paths.map((path) => ({ kind: "secret", path })),
    secrets,
    "",
  );
  return Object.entries(env)
    .map(([name, value]) => `${name}=${shellQuote(value)}\n`)
    .join("");
}

/** One secret's data as an object, or several keyed by path. */
export function renderJson(paths: string[], secrets: SecretSet): string {
  const dataOf = (path: string) => secrets.get(path)!.data;
  const value: JsonObject = paths.length === 1 ? dataOf(paths[0]!) : Object.fromEntries(paths.map((p) => [p, dataOf(p)]));
  return JSON.stringify(value, null, 2) + "\n";
}

/** The content of a file from the current secrets; throws (naming paths and keys, never values) when a key is missing or names clash. */
export function renderContent(spec: RenderSpec, secrets: SecretSet): string {
  if (spec.format === "dotenv") return renderDotenv(spec.secrets, secrets);
  if (spec.format === "json") return renderJson(spec.secrets, secrets);
  return renderTemplate(spec.parts, (path) => {
    const secret = secrets.get(path);
    if (!secret) throw new Error(`the secret ${path} was not read`);
    return secret.data;
  });
}

/** The paths a render reads. */
export function renderPaths(spec: RenderSpec): string[] {
  return spec.format === "template" ? spec.parts.flatMap((p) => ("path" in p ? [p.path] : [])) : spec.secrets;
}
