// Starts ScaiVault (or a fixture) under Deno or Bun as a child process, the way a user does,
// and reads its JSON log lines from stdout.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createFreshDatabase } from "../support/database.js";
import { testJwtSecret } from "../support/vault.js";

export type Runtime = "deno" | "bun";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The runtime's binary as `npm ci` installs it (devDependencies `deno` and `bun`). Missing is a
 * failure, never a skip: CI must run these tests.
 */
export function runtimeBinary(runtime: Runtime): string {
  const bin = `${repoRoot}node_modules/.bin/${runtime}`;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm ci (the ${runtime} devDependency installs it)`);
  return bin;
}

/** How each runtime runs the service: the commands the README gives. */
export const serviceCommand: Record<Runtime, string[]> = {
  deno: ["task", "start"],
  bun: ["run", "src/entry/bun.ts"],
};

export interface RuntimeProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** Every JSON log line so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** stderr so far. */
  stderr(): string;
  /** Sends a signal and resolves the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns `args` under the runtime in the repository with `env` and waits for the log line
 * carrying the bound port (`listeningMsg`).
 */
export async function spawnRuntime(runtime: Runtime, args: string[], env: Record<string, string | undefined>, listeningMsg: string): Promise<RuntimeProcess> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  const child = spawn(runtimeBinary(runtime), args, { cwd: repoRoot, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  let pending = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === listeningMsg) resolve(Number(entry.port));
      }
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    void exited.then((code) => reject(new Error(`${runtime} ${args.join(" ")} exited (${code}) before listening:\n${stderr}`)));
  });
  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    logs,
    stderr: () => stderr,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface RuntimeService extends RuntimeProcess {
  databaseKind: "postgres" | "embedded";
  /** Stops the service if still running and drops its database. */
  close(): Promise<void>;
}

/** ScaiVault under the runtime on a fresh database: PostgreSQL when DATABASE_URL is set, else embedded. */
export async function startRuntimeService(runtime: Runtime, env: Record<string, string> = {}): Promise<RuntimeService> {
  const db = await createFreshDatabase();
  let service: RuntimeProcess;
  try {
    service = await spawnRuntime(
      runtime,
      serviceCommand[runtime],
      {
        PORT: "0",
        HOST: "127.0.0.1",
        DATABASE_URL: db.databaseUrl, // undefined: the embedded database in the data dir
        SCAIVAULT_DATA_DIR: db.dataDir,
        SCAIVAULT_JWT_SECRET: testJwtSecret,
        SCAIVAULT_LOG_LEVEL: "debug",
        ...env,
      },
      "scaivault listening",
    );
  } catch (err) {
    await db.drop();
    throw err;
  }
  return {
    ...service,
    databaseKind: db.databaseUrl ? "postgres" : "embedded",
    async close() {
      if (service.child.exitCode === null && service.child.signalCode === null) await service.stop("SIGKILL");
      await db.drop();
    },
  };
}
