import { readFile } from "node:fs/promises";
import { createScaiVault } from "./app.js";
import { loadConfig, type ConnectionLimits } from "./config.js";
import { createLogger, type Logger } from "./log.js";
import type { UniversalApp } from "./transport/universal-app.js";

/** What a runtime's server needs to serve the app; the same for Node, Deno and Bun. */
export interface ListenOptions {
  app: UniversalApp;
  port: number;
  host: string;
  tls?: { cert: string; key: string };
  logger: Logger;
  /** How long closing lets calls in flight finish. */
  shutdownTimeoutMs: number;
  /** How long a client may take to send a request's headers (slow-header clients are cut); Node's server only. */
  headersTimeoutMs?: number;
  /** Largest request body; Node's server uses it for the requests its parser cannot take (Vault's `LIST`). */
  maxBodyBytes?: number;
  /** Request and idle timeouts and connection caps; Node's server only. */
  connections?: ConnectionLimits;
}

/** A listening server: the port bound, and a close that stops accepting and lets calls in flight finish. */
export interface ListeningServer {
  port: number;
  close(): Promise<void>;
}

/** One runtime's way of serving the app: Node's one-port server, `Deno.serve`, `Bun.serve`. */
export interface RuntimeServer {
  runtime: string;
  /** The protocols this runtime can serve (native gRPC needs HTTP/2 trailers). */
  protocols: readonly string[];
  listen(options: ListenOptions): Promise<ListeningServer>;
}

/**
 * Runs the service on a runtime: load config → create app (database, migrations, scheduler,
 * webhook delivery, every background job) → listen; SIGTERM/SIGINT → stop accepting, finish
 * in-flight calls, stop the jobs, close the database, exit.
 */
export async function runService(server: RuntimeServer): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  try {
    const logger = createLogger({ level: config.logLevel });
    const vault = await createScaiVault({ config, logger });
    const tls = config.tls ? { cert: await readFile(config.tls.certFile, "utf8"), key: await readFile(config.tls.keyFile, "utf8") } : undefined;
    const listening = await server.listen({ app: vault.app, port: config.port, host: config.host, tls, logger, shutdownTimeoutMs: config.shutdownTimeoutMs, headersTimeoutMs: config.headersTimeoutMs, maxBodyBytes: config.maxBodyBytes, connections: config.connections });
    logger.info("scaivault listening", {
      port: listening.port,
      runtime: server.runtime,
      database: vault.database.kind,
      tls: Boolean(tls),
      protocols: server.protocols,
    });

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info("shutting down", { signal });
      try {
        await listening.close();
        await vault.close();
        logger.info("stopped");
        process.exit(0);
      } catch (err) {
        logger.error("shutdown failed", { err });
        process.exit(1);
      }
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
  } catch (err) {
    process.stderr.write(`scaivault failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

/** Waits for `done`, or at most `ms` (then calls `onTimeout`). */
export async function untilOrTimeout(done: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, ms);
  });
  await Promise.race([done, timedOut]);
  clearTimeout(timer);
}
