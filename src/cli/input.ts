import { readFile } from "node:fs/promises";
import type { JsonObject } from "@bufbuild/protobuf";
import { UsageError, type CommandContext } from "./cli.js";

/** The bytes of `--file PATH`, or of standard input for `-` (never an interactive terminal). */
export async function readInput(ctx: CommandContext, file: string): Promise<Buffer> {
  if (file !== "-") return readFile(file);
  const { stdin } = ctx.io;
  if (stdin.isTTY) throw new UsageError("the value is read from standard input: pipe it in, or give --file PATH");
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/**
 * A secret's data from a file or standard input: a JSON object, or with `key` the whole input
 * (less one trailing newline) as that one string field. Values never come from the command line,
 * where other users could read them in the process list and they would land in shell history.
 */
export async function readSecretData(ctx: CommandContext, file: string, key: string | undefined): Promise<JsonObject> {
  const text = (await readInput(ctx, file)).toString("utf8");
  if (text.trim() === "") throw new UsageError(`no value on ${file === "-" ? "standard input" : file}`);
  if (key !== undefined) {
    return { [key]: text.replace(/\r?\n$/, "") };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UsageError("the input must be a JSON object (or give --key NAME to store it as one string field)");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new UsageError("the input must be a JSON object");
  return data as JsonObject;
}

/** An integer option, or undefined when absent. */
export function intOption(ctx: CommandContext, name: string): number | undefined {
  const raw = ctx.opts[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^-?\d+$/.test(raw)) throw new UsageError(`--${name} takes a whole number`);
  return Number(raw);
}

/** A string option, or undefined when absent. */
export function stringOption(ctx: CommandContext, name: string): string | undefined {
  const raw = ctx.opts[name];
  return typeof raw === "string" ? raw : undefined;
}

/** A repeatable option's values (empty when absent). */
export function listOption(ctx: CommandContext, name: string): string[] {
  const raw = ctx.opts[name];
  return Array.isArray(raw) ? raw : [];
}

/** A date option (RFC 3339), or undefined when absent. */
export function dateOption(ctx: CommandContext, name: string): Date | undefined {
  const raw = stringOption(ctx, name);
  if (raw === undefined) return undefined;
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--${name} takes an RFC 3339 time such as 2026-04-23T14:00:00Z`);
  return date;
}

/** Yields the rows of every page of a cursor-paginated listing, up to `max` rows. */
export async function* allPages<R>(fetchPage: (cursor: string | undefined, pageSize: number | undefined) => Promise<{ rows: R[]; cursor?: string; hasMore: boolean }>, max?: number): AsyncGenerator<R> {
  let cursor: string | undefined;
  let seen = 0;
  do {
    const page = await fetchPage(cursor, max === undefined ? undefined : Math.min(200, max - seen));
    for (const row of page.rows) {
      if (max !== undefined && seen >= max) return;
      seen++;
      yield row;
    }
    cursor = page.hasMore && page.cursor ? page.cursor : undefined;
  } while (cursor && (max === undefined || seen < max));
}
