// ScaiVault as its own Node.js process (`node --import tsx src/main.ts`, what `npm start` runs),
// for tests that need a replica they can kill for real (SIGKILL) while it holds work.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { testJwtSecret } from "./vault.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** stdout and stderr so far (the last lines), for a failure report. */
  output(): string;
  /** Resolves with the exit code, or the signal's name when a signal ended the process. */
  exited: Promise<number | string | null>;
  /** Sends `signal` unless the process has ended; resolves once it has. */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

/**
 * Starts the service on 127.0.0.1 port 0 over `databaseUrl` with the master key of `dataDir`
 * (the same data dir as an in-process replica means the same key), plus `env`; resolves once it
 * logs the port it listens on.
 */
export async function startServiceProcess(options: { databaseUrl: string; dataDir: string; env?: Record<string, string> }): Promise<ServiceProcess> {
  const lines: string[] = [];
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: options.databaseUrl,
      SCAIVAULT_DATA_DIR: options.dataDir,
      SCAIVAULT_JWT_SECRET: testJwtSecret,
      SCAIVAULT_LOG_LEVEL: "info", // the "listening" line carries the port
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | string | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  const keep = (chunk: Buffer) => {
    lines.push(chunk.toString());
    if (lines.length > 200) lines.shift();
  };
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = "";
    let listening = false;
    child.stdout!.on("data", (chunk: Buffer) => {
      keep(chunk);
      if (listening) return;
      buffered += chunk.toString();
      const line = buffered.split("\n").find((l) => l.includes('"msg":"scaivault listening"'));
      if (line) {
        listening = true;
        resolve(JSON.parse(line).port);
      }
    });
    child.stderr!.on("data", keep);
    void exited.then((code) => reject(new Error(`service exited (${code}) before listening: ${lines.join("")}`)));
  });
  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    output: () => lines.join(""),
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
