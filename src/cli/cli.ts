import { parseArgs } from "node:util";
import { createScaiVaultClient, ScaiVaultError, type ScaiVaultClient } from "../../clients/typescript/src/index.js";
import { configPath, isProtocol, readConfig, tokenFileReader } from "./config-file.js";
import { exitCodeOf, exitCodes, exitCodesHelp } from "./exit-codes.js";

/** An option of a command, as `util.parseArgs` takes it plus the text of `--help`. */
export interface OptionSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
  /** Placeholder of the value in the help (`N`, `PATH`). */
  value?: string;
  description: string;
}

/** A command: positional arguments (`PATH`, `ID`, `PATH...` for any number, `NAME?` optional), options, and what it does. */
export interface CommandSpec {
  name: string;
  summary: string;
  args?: string[];
  options?: Record<string, OptionSpec>;
  /** More text for `--help`. */
  details?: string;
  /** Resolves with nothing (exit 0) or the exit code to use (`run` passes on its child's). */
  run(ctx: CommandContext): Promise<void | number>;
}

/** Commands under a common name (`secrets`, `rotation policies`). */
export interface GroupSpec {
  name: string;
  summary: string;
  commands: Array<CommandSpec | GroupSpec>;
}

/** Where the CLI reads and writes; a test passes its own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** What a command gets to work with. */
export interface CommandContext {
  /** Positional arguments by their names in `args` (a `...` argument holds them all, space-joined in `rest`). */
  arg(name: string): string;
  rest: string[];
  opts: Record<string, string | boolean | string[] | undefined>;
  /** The options in the order they were given, for commands where a later flag wins over an earlier one. */
  optionOrder: Array<{ name: string; value: string | undefined }>;
  /** `--json`: machine-readable output. */
  json: boolean;
  io: CliIo;
  /** The client for the saved (or given) URL and token. */
  client(): Promise<ScaiVaultClient>;
  /** Where the login settings live. */
  configPath: string;
  print(text: string): void;
  printJson(value: unknown): void;
}

/** A mistake in how the command was called (exit 1). */
export class UsageError extends Error {}

const globalOptions: Record<string, OptionSpec> = {
  json: { type: "boolean", description: "Print JSON for scripts instead of tables" },
  url: { type: "string", value: "URL", description: "The service's URL (default: SCAIVAULT_URL, else the saved login)" },
  protocol: { type: "string", value: "P", description: "connect (default), grpc or grpc-web (default: SCAIVAULT_PROTOCOL, else the saved login)" },
  timeout: { type: "string", value: "DURATION", description: "Deadline of each call, e.g. 10s (default 30s)" },
  help: { type: "boolean", short: "h", description: "Show help" },
};

const isGroup = (node: CommandSpec | GroupSpec): node is GroupSpec => "commands" in node;

/** Runs one command line and returns the exit code; never throws. */
export async function runCli(root: GroupSpec, argv: string[], io: CliIo): Promise<number> {
  const trail: string[] = [root.name];
  let node: CommandSpec | GroupSpec = root;
  const rest: string[] = [];
  let json = argv.includes("--json");
  try {
    // Walk down the command names; options may come anywhere (a global option's value is skipped).
    for (let i = 0; i < argv.length; i++) {
      const token = argv[i]!;
      if (token.startsWith("-") || !isGroup(node)) {
        rest.push(token);
        const name = token.replace(/^--/, "");
        if (globalOptions[name]?.type === "string" && !token.includes("=") && i + 1 < argv.length) rest.push(argv[++i]!);
        continue;
      }
      const child: CommandSpec | GroupSpec | undefined = node.commands.find((c) => c.name === token);
      if (!child) throw new UsageError(`unknown command "${[...trail.slice(1), token].join(" ")}"`);
      node = child;
      trail.push(token);
    }
    if (isGroup(node)) {
      const help = rest.includes("--help") || rest.includes("-h") || (node === root && argv.length === 0);
      (help ? io.stdout : io.stderr)(groupHelp(node, trail));
      return help ? exitCodes.ok : exitCodes.usage;
    }

    const command = node;
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { ...globalOptions, ...command.options }, allowPositionals: true, strict: true, tokens: true });
    } catch (err) {
      throw new UsageError((err as Error).message.split("\n")[0]!.replace(/^Unknown option '(.*)'.*/, "unknown option $1"));
    }
    const opts = parsed.values as CommandContext["opts"];
    json = opts.json === true;
    if (opts.help) {
      io.stdout(commandHelp(command, trail));
      return exitCodes.ok;
    }
    const positionals = parsed.positionals;
    const named = bindArguments(command.args ?? [], positionals);

    const path = configPath(io.env);
    let client: ScaiVaultClient | undefined;
    const ctx: CommandContext = {
      arg: (name) => named.values[name] ?? "",
      rest: named.rest,
      opts,
      optionOrder: parsed.tokens.flatMap((t) => (t.kind === "option" ? [{ name: t.name, value: t.value }] : [])),
      json,
      io,
      configPath: path,
      print: (text) => io.stdout(text.endsWith("\n") ? text : text + "\n"),
      printJson: (value) => io.stdout(JSON.stringify(value, null, 2) + "\n"),
      async client() {
        client ??= await connect(opts, io.env, path);
        return client;
      },
    };
    try {
      const code = await command.run(ctx);
      return typeof code === "number" ? code : exitCodes.ok;
    } finally {
      client?.close();
    }
  } catch (err) {
    return report(err, trail, json, io);
  }
}

function report(err: unknown, trail: string[], json: boolean, io: CliIo): number {
  if (err instanceof UsageError) {
    io.stderr(`scaivault: ${err.message}\nRun '${trail.join(" ")} --help' for usage.\n`);
    return exitCodes.usage;
  }
  if (err instanceof ScaiVaultError) {
    if (json) io.stderr(JSON.stringify({ error: { code: err.code, message: err.message, request_id: err.requestId ?? null } }) + "\n");
    else io.stderr(`scaivault: ${err.code}: ${err.message}${err.requestId ? ` (request ${err.requestId})` : ""}\n`);
    return exitCodeOf(err.code);
  }
  io.stderr(`scaivault: ${err instanceof Error ? err.message : String(err)}\n`);
  return exitCodes.usage;
}

function bindArguments(names: string[], given: string[]): { values: Record<string, string>; rest: string[] } {
  const values: Record<string, string> = {};
  const required = names.filter((n) => !n.endsWith("?") && !n.endsWith("...")).length;
  const variadic = names.some((n) => n.endsWith("..."));
  if (given.length < required) throw new UsageError(`missing ${names.slice(given.length).filter((n) => !n.endsWith("?") && !n.endsWith("...")).join(" ")}`);
  if (!variadic && given.length > names.length) throw new UsageError(`unexpected argument "${given[names.length]}"`);
  names.forEach((name, i) => {
    if (!name.endsWith("...") && given[i] !== undefined) values[name.replace(/\?$/, "")] = given[i]!;
  });
  const at = names.findIndex((n) => n.endsWith("..."));
  return { values, rest: at < 0 ? [] : given.slice(at) };
}

async function connect(opts: CommandContext["opts"], env: NodeJS.ProcessEnv, path: string): Promise<ScaiVaultClient> {
  const saved = await readConfig(path);
  const url = (opts.url as string | undefined) ?? env.SCAIVAULT_URL ?? saved.url;
  const tokenFile = opts["token-file"] as string | undefined;
  const token = tokenFile === undefined ? (env.SCAIVAULT_TOKEN ?? saved.token) : undefined;
  if (!url || (!token && tokenFile === undefined)) {
    throw new ScaiVaultError("unauthenticated", `not logged in: run 'scaivault login --url URL' (or set SCAIVAULT_URL and SCAIVAULT_TOKEN); settings file ${path}`);
  }
  const protocol = (opts.protocol as string | undefined) ?? env.SCAIVAULT_PROTOCOL ?? saved.protocol ?? "connect";
  if (!isProtocol(protocol)) throw new UsageError(`--protocol must be connect, grpc or grpc-web`);
  const timeoutMs = durationMs(opts.timeout as string | undefined, "--timeout") ?? 30_000;
  if (tokenFile !== undefined) return createScaiVaultClient({ baseUrl: url, getToken: tokenFileReader(tokenFile), protocol, timeoutMs });
  return createScaiVaultClient({ baseUrl: url, token, protocol, timeoutMs });
}

/** `500ms`, `10s`, `2m` (or plain milliseconds) as milliseconds. */
export function durationMs(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)(ms|s|m)?$/.exec(text);
  if (!match) throw new UsageError(`${name} takes a duration such as 500ms, 10s or 2m`);
  return Number(match[1]) * (match[2] === "s" ? 1000 : match[2] === "m" ? 60_000 : 1);
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const entries = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ""}--${name}${o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""}`;
    return [flag, o.description + (o.multiple ? " (repeatable)" : "")] as const;
  });
  const width = Math.max(...entries.map(([f]) => f.length));
  return entries.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

function commandHelp(command: CommandSpec, trail: string[]): string {
  const args = (command.args ?? []).map((a) => (a.endsWith("?") ? `[${a.slice(0, -1)}]` : a.endsWith("...") ? `[${a}]` : a));
  const lines = [`Usage: ${[...trail, ...args].join(" ")} [options]`, "", command.summary];
  if (command.details) lines.push("", command.details);
  if (command.options && Object.keys(command.options).length) lines.push("", "Options:", ...optionLines(command.options));
  lines.push("", "Global options:", ...optionLines(globalOptions), "", exitCodesHelp);
  return lines.join("\n") + "\n";
}

function groupHelp(group: GroupSpec, trail: string[]): string {
  const width = Math.max(...group.commands.map((c) => c.name.length));
  const lines = [
    `Usage: ${trail.join(" ")} <command> [options]`,
    "",
    group.summary,
    "",
    "Commands:",
    ...group.commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    `Run '${trail.join(" ")} <command> --help' for a command's options.`,
  ];
  if (trail.length === 1) lines.push("", "Global options:", ...optionLines(globalOptions), "", exitCodesHelp);
  return lines.join("\n") + "\n";
}
