import { UsageError, type CommandSpec } from "../cli.js";
import { loadAgentConfig } from "../delivery/agent-config.js";
import { agentPaths, renderTemplates } from "../delivery/agent-render.js";
import { followSecrets, readSecretsAtStart } from "../delivery/secret-feed.js";
import { superviseChild, type Supervisor } from "../delivery/supervisor.js";
import { stringOption } from "../input.js";
import { childBaseEnv, deliveryOptions } from "./run.js";

/** Resolves when this process is asked to stop (SIGTERM, SIGINT), for an agent with no process of its own to follow. */
function stopRequested(): { promise: Promise<void>; dispose(): void } {
  let dispose = () => undefined as void;
  const promise = new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    dispose = () => {
      process.removeListener("SIGTERM", stop);
      process.removeListener("SIGINT", stop);
    };
  });
  return { promise, dispose };
}

/** `scaivault agent` */
export const agentCommand: CommandSpec = {
  name: "agent",
  summary: "Render secrets into files and keep them current; optionally supervise a process",
  options: {
    config: { type: "string", value: "FILE", description: "The agent's config (templates, exec): JSON, or YAML when named .yaml/.yml" },
    once: { type: "boolean", description: "Render every template once and exit (init containers, CI)" },
    ...deliveryOptions,
  },
  details: [
    "Config example:",
    '  {"templates": [{"destination": "/run/secrets/app.env", "format": "dotenv", "secrets": ["app/db"]},',
    '                 {"destination": "/run/secrets/db.conf", "format": "template",',
    '                  "contents": "password={{ secret \\"app/db\\" \\"password\\" }}\\n", "command": ["pkill", "-HUP", "pgbouncer"]}],',
    '   "exec": {"command": ["node", "server.js"], "restart_on_change": true}}',
    "Files are written atomically with perms (default 0600, never readable by others), only when their content changed.",
  ].join("\n"),
  async run(ctx) {
    const file = stringOption(ctx, "config");
    if (file === undefined) throw new UsageError("--config FILE is required");
    const config = await loadAgentConfig(file);
    const log = (message: string) => ctx.io.stderr(`scaivault agent: ${message}\n`);
    const env = childBaseEnv(ctx.io.env);
    const client = await ctx.client();
    const paths = agentPaths(config);
    const secrets = await readSecretsAtStart(client, paths, { failFast: ctx.opts["fail-fast"] === true, log });
    await renderTemplates(config, secrets, { strict: true, env, log });
    if (ctx.opts.once) return;

    const exec = config.exec;
    const child: Supervisor | undefined = exec && superviseChild({ command: exec.command, baseEnv: env, restartSignal: exec.restartSignal, restartGraceMs: exec.restartGraceMs, log }, {});
    const abort = new AbortController();
    const following = followSecrets(
      {
        client,
        paths,
        debounceMs: config.debounceMs,
        signal: abort.signal,
        log,
        async onChange(next) {
          const written = await renderTemplates(config, next, { strict: false, env, log });
          if (written.length > 0 && child && exec!.restartOnChange) {
            log("files changed: restarting the command");
            await child.restart({});
          }
        },
      },
      secrets,
    );
    const stop = child ? undefined : stopRequested();
    const code = child ? await child.exited : await stop!.promise.then(() => 0);
    stop?.dispose();
    abort.abort();
    await following;
    return code;
  },
};
