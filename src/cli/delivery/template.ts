import type { JsonObject } from "@bufbuild/protobuf";
import { envValueOf } from "./secret-env.js";

/**
 * The agent's template syntax, small on purpose (it evaluates no code):
 *
 * - `{{ secret "PATH" "KEY" }}`: one key of a secret (a string as it is, anything else as JSON);
 * - `{{ secret "PATH" }}`: the secret's whole data as one JSON object;
 * - `{{ "TEXT" }}`: TEXT itself, so `{{ "{{" }}` writes two braces.
 *
 * Arguments are JSON strings (double quotes, backslash escapes). Anything else between `{{` and
 * `}}` is an error naming its line.
 */
export type TemplatePart = { text: string } | { path: string; key?: string };

/** A template that cannot be parsed: the message names the line. */
export class TemplateSyntaxError extends Error {}

const token = /\s*("(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\S)/y;

function words(inside: string, line: number): Array<{ word: string; quoted: boolean }> {
  const found: Array<{ word: string; quoted: boolean }> = [];
  token.lastIndex = 0;
  while (token.lastIndex < inside.length && inside.slice(token.lastIndex).trim() !== "") {
    const match = token.exec(inside);
    if (!match) break;
    const raw = match[1]!;
    if (raw.startsWith('"')) {
      try {
        found.push({ word: JSON.parse(raw) as string, quoted: true });
      } catch {
        throw new TemplateSyntaxError(`line ${line}: bad string ${raw}`);
      }
    } else found.push({ word: raw, quoted: false });
  }
  return found;
}

function action(inside: string, line: number): TemplatePart {
  const ws = words(inside, line);
  const [first, ...args] = ws;
  if (first?.quoted && args.length === 0) return { text: first.word };
  if (first && !first.quoted && first.word === "secret" && (args.length === 1 || args.length === 2) && args.every((a) => a.quoted)) {
    if (!args[0]!.word) throw new TemplateSyntaxError(`line ${line}: the secret's path is empty`);
    return args.length === 2 ? { path: args[0]!.word, key: args[1]!.word } : { path: args[0]!.word };
  }
  throw new TemplateSyntaxError(`line ${line}: {{${inside}}} is not {{ secret "PATH" "KEY" }}, {{ secret "PATH" }} or {{ "TEXT" }}`);
}

/** Splits a template into text and secret references. */
export function parseTemplate(source: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let at = 0;
  for (;;) {
    const open = source.indexOf("{{", at);
    if (open < 0) break;
    const close = source.indexOf("}}", open + 2);
    const line = source.slice(0, open).split("\n").length;
    if (close < 0) throw new TemplateSyntaxError(`line ${line}: {{ without }}`);
    if (open > at) parts.push({ text: source.slice(at, open) });
    parts.push(action(source.slice(open + 2, close), line));
    at = close + 2;
  }
  if (at < source.length) parts.push({ text: source.slice(at) });
  return parts;
}

/** The paths a template reads. */
export function templatePaths(parts: TemplatePart[]): string[] {
  return parts.flatMap((p) => ("path" in p ? [p.path] : []));
}

/** The template with the secrets filled in; a key the secret lacks is an error naming the path and key. */
export function renderTemplate(parts: TemplatePart[], data: (path: string) => JsonObject): string {
  return parts
    .map((part) => {
      if ("text" in part) return part.text;
      const secret = data(part.path);
      if (part.key === undefined) return JSON.stringify(secret);
      const value = secret[part.key];
      if (value === undefined || value === null) throw new Error(`the secret ${part.path} has no key "${part.key}"`);
      return envValueOf(value);
    })
    .join("");
}
