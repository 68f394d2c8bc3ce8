import { readFile } from "node:fs/promises";
import { createScaiVault } from "./app.js";
import { loadConfig } from "./config.js";
import { createLogger } from "./log.js";
import { startServer } from "./transport/node-server.js";

/** load config → create app → listen; SIGTERM/SIGINT → stop accepting, finish in-flight, stop jobs, close the database. */
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.logLevel });
  const vault = await createScaiVault({ config, logger });
  const tls = config.tls ? { cert: await readFile(config.tls.certFile), key: await readFile(config.tls.keyFile) } : undefined;
  const server = await startServer({ app: vault.app, port: config.port, host: config.host, tls, logger, shutdownTimeoutMs: config.shutdownTimeoutMs, headersTimeoutMs: config.headersTimeoutMs });
  logger.info("scaivault listening", {
    port: server.port,
    database: vault.database.kind,
    tls: Boolean(tls),
    protocols: ["grpc", "grpc-web", "connect", "rest"],
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    try {
      await server.close();
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
}

main().catch((err) => {
  process.stderr.write(`scaivault failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
