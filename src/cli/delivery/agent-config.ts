import { readFile } from "node:fs/promises";
import { constants } from "node:os";
import { dirname, extname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { UsageError, durationMs } from "../cli.js";
import type { RenderSpec } from "./render.js";
import { parseTemplate, TemplateSyntaxError } from "./template.js";

/** One file the agent keeps current. */
export interface AgentTemplate {
  destination: string;
  mode: number;
  render: RenderSpec;
  /** Run after each write that changed the file: argv, or one string for `/bin/sh -c`. */
  command?: string[];
}

/** The process the agent supervises. */
export interface AgentExec {
  command: string[];
  restartOnChange: boolean;
  restartSignal: NodeJS.Signals;
  restartGraceMs: number;
}

/** `scaivault agent --config FILE`, checked. */
export interface AgentConfig {
  templates: AgentTemplate[];
  exec?: AgentExec;
  debounceMs: number;
}

type Json = unknown;

/** Reads the config field by field; every mistake names the field (`templates[1].perms`). */
class Fields {
  constructor(
    private readonly file: string,
    private readonly at: string,
    private readonly value: Record<string, Json>,
  ) {}

  static of(file: string, at: string, value: Json): Fields {
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail(file, at, "must be an object");
    return new Fields(file, at, value as Record<string, Json>);
  }

  name(field: string): string {
    return this.at ? `${this.at}.${field}` : field;
  }

  only(allowed: string[]): void {
    const unknown = Object.keys(this.value).find((k) => !allowed.includes(k));
    if (unknown !== undefined) throw fail(this.file, this.name(unknown), `is not a field here (known: ${allowed.join(", ")})`);
  }

  has(field: string): boolean {
    return this.value[field] !== undefined;
  }

  raw(field: string): Json {
    return this.value[field];
  }

  string(field: string, required: true): string;
  string(field: string, required?: false): string | undefined;
  string(field: string, required = false): string | undefined {
    const v = this.value[field];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || v === "") throw fail(this.file, this.name(field), required && v === undefined ? "is required" : "must be a non-empty string");
    return v;
  }

  strings(field: string): string[] | undefined {
    const v = this.value[field];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === "string" && s !== "")) throw fail(this.file, this.name(field), "must be a non-empty list of non-empty strings");
    return v as string[];
  }

  boolean(field: string, fallback: boolean): boolean {
    const v = this.value[field];
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") throw fail(this.file, this.name(field), "must be true or false");
    return v;
  }

  duration(field: string, fallback: number): number {
    return durationMs(this.string(field), `${this.file}: ${this.name(field)}`) ?? fallback;
  }

  fail(field: string, message: string): UsageError {
    return fail(this.file, this.name(field), message);
  }
}

function fail(file: string, field: string, message: string): UsageError {
  return new UsageError(`${file}: ${field || "the config"} ${message}`);
}

/** `"0600"` → 0o600; refuses modes that let others read or write (rendered files hold secrets). */
function parseMode(fields: Fields): number {
  if (typeof fields.raw("perms") === "number") throw fields.fail("perms", `must be a quoted string such as "0600" (a bare number loses its leading 0)`);
  const text = fields.string("perms") ?? "0600";
  if (!/^0?[0-7]{3}$/.test(text)) throw fields.fail("perms", `must be an octal mode such as "0600", got "${text}"`);
  const mode = parseInt(text, 8);
  if (mode & 0o007) throw fields.fail("perms", `must not give others any access (got "${text}"; use "0600" or "0640")`);
  if (!(mode & 0o400)) throw fields.fail("perms", `must let the owner read the file (got "${text}")`);
  return mode;
}

/** A command: argv, or one string run by `/bin/sh -c`. */
function parseCommand(fields: Fields, field: string): string[] | undefined {
  const raw = fields.raw(field);
  if (typeof raw === "string" && raw.trim() !== "") return ["/bin/sh", "-c", raw];
  if (raw === undefined) return undefined;
  const argv = fields.strings(field);
  if (!argv) throw fields.fail(field, "must be a list of strings or one shell command line");
  return argv;
}

async function parseRender(fields: Fields, base: string): Promise<RenderSpec> {
  const format = fields.string("format", true);
  if (format === "dotenv" || format === "json") {
    if (fields.has("source") || fields.has("contents")) throw fields.fail(fields.has("source") ? "source" : "contents", `is only for format "template"`);
    const secrets = fields.strings("secrets");
    if (!secrets) throw fields.fail("secrets", `is required for format "${format}"`);
    return { format, secrets: [...new Set(secrets)] };
  }
  if (format !== "template") throw fields.fail("format", `must be "dotenv", "json" or "template", got "${format}"`);
  if (fields.has("secrets")) throw fields.fail("secrets", `is not used by format "template" (the template names its secrets)`);
  if (fields.has("source") === fields.has("contents")) throw fields.fail("source", `or contents: give exactly one for format "template"`);
  const field = fields.has("source") ? "source" : "contents";
  let text: string;
  if (field === "source") {
    const path = resolve(base, fields.string("source", true));
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw fields.fail("source", `cannot be read (${path}: ${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  } else {
    const contents = fields.raw("contents");
    if (typeof contents !== "string") throw fields.fail("contents", "must be a string");
    text = contents;
  }
  try {
    return { format, parts: parseTemplate(text) };
  } catch (err) {
    if (err instanceof TemplateSyntaxError) throw fields.fail(field, err.message);
    throw err;
  }
}

function parseExec(file: string, raw: Json): AgentExec {
  const fields = Fields.of(file, "exec", raw);
  fields.only(["command", "restart_on_change", "restart_signal", "restart_grace"]);
  const command = fields.strings("command");
  if (!command) throw fields.fail("command", "is required (a list such as [\"node\", \"server.js\"])");
  const restartSignal = fields.string("restart_signal") ?? "SIGTERM";
  if (!(restartSignal in constants.signals)) throw fields.fail("restart_signal", `must be a signal name such as SIGTERM, got "${restartSignal}"`);
  return {
    command,
    restartOnChange: fields.boolean("restart_on_change", true),
    restartSignal: restartSignal as NodeJS.Signals,
    restartGraceMs: fields.duration("restart_grace", 10_000),
  };
}

/** True for a config written in YAML (by its name); every other file is JSON. */
function isYaml(file: string): boolean {
  return [".yaml", ".yml"].includes(extname(file).toLowerCase());
}

/** The config file's value: YAML 1.2 (core schema, no duplicate keys) for `.yaml`/`.yml`, else JSON. */
async function readConfigFile(file: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    return isYaml(file) ? parseYaml(text, { uniqueKeys: true }) : JSON.parse(text);
  } catch (err) {
    // The parser's first line names the problem and where; the lines after it quote the file.
    const problem = (err as Error).message.split("\n")[0]!.replace(/:$/, "");
    throw new UsageError(`${file}: is not ${isYaml(file) ? "YAML" : "JSON"} (${problem})`);
  }
}

/** Reads and checks the agent's config (JSON, or YAML when the file is named `.yaml`/`.yml`); relative paths are relative to the file's directory. */
export async function loadAgentConfig(file: string): Promise<AgentConfig> {
  const raw = await readConfigFile(file);
  const base = dirname(resolve(file));
  const top = Fields.of(file, "", raw);
  top.only(["templates", "exec", "debounce"]);
  const list = top.raw("templates");
  if (!Array.isArray(list) || list.length === 0) throw top.fail("templates", "must be a non-empty list");
  const templates: AgentTemplate[] = [];
  const destinations = new Set<string>();
  for (const [i, entry] of list.entries()) {
    const fields = Fields.of(file, `templates[${i}]`, entry);
    fields.only(["destination", "perms", "format", "secrets", "source", "contents", "command"]);
    const destination = resolve(base, fields.string("destination", true));
    if (destinations.has(destination)) throw fields.fail("destination", `is the destination of an earlier template too (${destination})`);
    destinations.add(destination);
    templates.push({ destination, mode: parseMode(fields), render: await parseRender(fields, base), command: parseCommand(fields, "command") });
  }
  return { templates, exec: top.has("exec") ? parseExec(file, top.raw("exec")) : undefined, debounceMs: top.duration("debounce", 250) };
}
