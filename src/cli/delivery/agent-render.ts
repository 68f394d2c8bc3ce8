import { spawn } from "node:child_process";
import { UsageError } from "../cli.js";
import type { AgentConfig, AgentTemplate } from "./agent-config.js";
import { writeFileAtomically } from "./atomic-file.js";
import { renderContent, renderPaths } from "./render.js";
import type { SecretSet } from "./secret-feed.js";
import { exitCodeOfChild } from "./supervisor.js";

/** Every path the agent's templates read, once each. */
export function agentPaths(config: AgentConfig): string[] {
  return [...new Set(config.templates.flatMap((t) => renderPaths(t.render)))];
}

/** Runs a template's `command` to its end; a failure is printed, never fatal. */
function runTemplateCommand(template: AgentTemplate, env: NodeJS.ProcessEnv, log: (message: string) => void): Promise<void> {
  const [file, ...args] = template.command!;
  return new Promise((resolve) => {
    const child = spawn(file!, args, { stdio: ["ignore", "inherit", "inherit"], env });
    child.once("error", (err: NodeJS.ErrnoException) => {
      log(`the command of ${template.destination} could not start: ${err.code ?? err.message}`);
      resolve();
    });
    child.once("exit", (code, signal) => {
      const status = exitCodeOfChild(code, signal);
      if (status !== 0) log(`the command of ${template.destination} exited with ${status}`);
      resolve();
    });
  });
}

/** How a render pass behaves. */
export interface RenderPassOptions {
  /** The first pass: a template that cannot be rendered is fatal (nothing to fall back on). Later passes print it and keep the old file. */
  strict: boolean;
  /** The environment of the templates' commands. */
  env: NodeJS.ProcessEnv;
  log(message: string): void;
}

/**
 * Renders every template from `secrets`, writes the files whose content changed (atomically,
 * with their mode), then runs the commands of those templates, in order. Returns the templates
 * whose file was written.
 */
export async function renderTemplates(config: AgentConfig, secrets: SecretSet, options: RenderPassOptions): Promise<AgentTemplate[]> {
  // Every content first: on the first pass one template that cannot be rendered stops all before anything is written.
  const rendered: Array<{ template: AgentTemplate; content: string }> = [];
  for (const template of config.templates) {
    try {
      rendered.push({ template, content: renderContent(template.render, secrets) });
    } catch (err) {
      const message = `cannot render ${template.destination}: ${(err as Error).message}`;
      if (options.strict) throw new UsageError(message);
      options.log(`${message}; the file keeps its old content`);
    }
  }
  const written: AgentTemplate[] = [];
  for (const { template, content } of rendered) {
    try {
      if ((await writeFileAtomically(template.destination, content, template.mode)) === "written") {
        written.push(template);
        options.log(`rendered ${template.destination}`);
      }
    } catch (err) {
      const message = `cannot write ${template.destination}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      if (options.strict) throw new Error(message);
      options.log(`${message}; the file keeps its old content`);
    }
  }
  for (const template of written) if (template.command) await runTemplateCommand(template, options.env, options.log);
  return written;
}
