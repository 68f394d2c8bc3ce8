import { constants } from "node:os";
import { UsageError, durationMs, type CommandContext, type CommandSpec, type OptionSpec } from "../cli.js";
import { followSecrets, readSecretsAtStart } from "../delivery/secret-feed.js";
import { buildEnv, parseEnvFlag, sourcePaths, type EnvSource } from "../delivery/secret-env.js";
import { superviseChild } from "../delivery/supervisor.js";
import { stringOption } from "../input.js";

/** Options `run` and `agent` share: where the token comes from and what to do while the service is away. */
export const deliveryOptions: Record<string, OptionSpec> = {
  "token-file": { type: "string", value: "PATH", description: "Read the token from this file, again whenever it changes (default: SCAIVAULT_TOKEN, else the saved login)" },
  "fail-fast": { type: "boolean", description: "Exit when the service cannot be reached at start instead of trying again with backoff" },
};

/** Options of the supervision `run --watch` and the agent's `exec` share. */
const restartOptions: Record<string, OptionSpec> = {
  "restart-signal": { type: "string", value: "SIGNAL", description: "Sent to stop the command before a restart (default SIGTERM)" },
  "restart-grace": { type: "string", value: "DURATION", description: "Time the command has to exit after the signal before SIGKILL (default 10s)" },
  debounce: { type: "string", value: "DURATION", description: "Changes within this long of each other make one restart (default 250ms)" },
};

/** A signal name the platform knows (`SIGTERM`, `SIGHUP`, ...). */
export function signalOption(value: string | undefined, name: string): NodeJS.Signals {
  const signal = value ?? "SIGTERM";
  if (!(signal in constants.signals)) throw new UsageError(`${name} takes a signal name such as SIGTERM or SIGHUP`);
  return signal as NodeJS.Signals;
}

/** The environment a child starts from: this process's, less the token (the child gets the secrets it was given, not the power to read others). */
export function childBaseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = { ...env };
  delete base.SCAIVAULT_TOKEN;
  return base;
}

/** `--secret` and `--env` in the order given (a later one wins). */
function envSources(ctx: CommandContext): EnvSource[] {
  return ctx.optionOrder.flatMap((o): EnvSource[] => {
    if (o.name === "secret" && o.value) return [{ kind: "secret", path: o.value }];
    if (o.name === "env" && o.value) return [parseEnvFlag(o.value)];
    return [];
  });
}

/** `scaivault run` */
export const runCommand: CommandSpec = {
  name: "run",
  summary: "Start a command with secrets in its environment (and restart it when they change, with --watch)",
  args: ["COMMAND..."],
  options: {
    secret: { type: "string", multiple: true, value: "PATH", description: "Every key of this secret as a variable (upper-cased, other characters than A-Z 0-9 _ as _)" },
    env: { type: "string", multiple: true, value: "NAME=PATH#KEY", description: "One variable from one key of a secret" },
    watch: { type: "boolean", description: "Restart the command when a named secret changes" },
    ...restartOptions,
    ...deliveryOptions,
  },
  details: [
    "Example: scaivault run --secret app/db --env API_KEY=app/stripe#key -- node server.js",
    "Later flags win over earlier ones; two --secret paths that give the same variable are refused.",
    "Without --watch the exit code is the command's (128 + N when signal N ended it); signals are passed on.",
    "With --watch a change of a named secret stops the command (--restart-signal, then SIGKILL after",
    "--restart-grace) and starts it again with the new values; if they cannot be read it keeps running.",
  ].join("\n"),
  async run(ctx) {
    const command = ctx.rest;
    if (command.length === 0) throw new UsageError("name the command to run after --, e.g. scaivault run --secret app/db -- node server.js");
    const sources = envSources(ctx);
    if (sources.length === 0) throw new UsageError("name at least one --secret PATH or --env NAME=PATH#KEY");
    const restartSignal = signalOption(stringOption(ctx, "restart-signal"), "--restart-signal");
    const restartGraceMs = durationMs(stringOption(ctx, "restart-grace"), "--restart-grace") ?? 10_000;
    const debounceMs = durationMs(stringOption(ctx, "debounce"), "--debounce") ?? 250;
    const log = (message: string) => ctx.io.stderr(`scaivault run: ${message}\n`);

    const client = await ctx.client();
    const paths = sourcePaths(sources);
    const secrets = await readSecretsAtStart(client, paths, { failFast: ctx.opts["fail-fast"] === true, log });
    const child = superviseChild({ command, baseEnv: childBaseEnv(ctx.io.env), restartSignal, restartGraceMs, log }, buildEnv(sources, secrets));
    if (!ctx.opts.watch) return child.exited;

    const abort = new AbortController();
    const following = followSecrets(
      {
        client,
        paths,
        debounceMs,
        signal: abort.signal,
        log,
        async onChange(next, changed) {
          const env = buildEnv(sources, next);
          log(`${changed.map((p) => `${p} is now version ${next.get(p)!.version}`).join(", ")}: restarting the command`);
          await child.restart(env);
        },
      },
      secrets,
    );
    const code = await child.exited;
    abort.abort();
    await following;
    return code;
  },
};
