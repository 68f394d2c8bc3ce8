import { createScaiVault, type ScaiVault, type ScaiVaultOptions } from "../../src/app.js";
import { mintToken, type TokenClaims } from "../../src/auth/mint-token.js";
import { systemClock, type Clock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { startServer } from "../../src/transport/node-server.js";
import { createFreshDatabase } from "./database.js";

/** The HS256 secret every test server verifies with. */
export const testJwtSecret = "test-secret-of-at-least-thirty-two-bytes!!";

export interface TestVault {
  vault: ScaiVault;
  baseUrl: string;
  port: number;
  /** Every log line the service wrote, for leak checks. */
  logs: string[];
  dataDir: string;
  databaseUrl?: string;
  token(claims: Partial<TokenClaims> & { tenantId?: string }): Promise<string>;
  /** Fetch with a JSON body and bearer token. */
  rest(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  /** Stops the server; keeps the database unless `drop`. */
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a real ScaiVault on 127.0.0.1 port 0 over a fresh database (PostgreSQL or embedded). */
export async function startTestVault(
  options: { clock?: Clock; env?: Record<string, string>; reuse?: { dataDir: string; databaseUrl?: string }; extraProviders?: ScaiVaultOptions["extraProviders"] } = {},
): Promise<TestVault> {
  const fresh = options.reuse ? undefined : await createFreshDatabase();
  const dataDir = options.reuse?.dataDir ?? fresh!.dataDir;
  const databaseUrl = options.reuse ? options.reuse.databaseUrl : fresh!.databaseUrl;
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    SCAIVAULT_DATA_DIR: dataDir,
    SCAIVAULT_JWT_SECRET: testJwtSecret,
    SCAIVAULT_ACCESS_FLUSH_MS: "50",
    SCAIVAULT_LOG_LEVEL: "debug",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...options.env,
  });
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => logs.push(line) });
  const clock = options.clock ?? systemClock;
  const vault = await createScaiVault({ config, clock, logger, extraProviders: options.extraProviders });
  const server = await startServer({ app: vault.app, port: 0, host: "127.0.0.1", logger });
  const baseUrl = `http://127.0.0.1:${server.port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.close();
    await vault.close();
  };
  return {
    vault,
    baseUrl,
    port: server.port,
    logs,
    dataDir,
    databaseUrl,
    token: (claims) =>
      mintToken(testJwtSecret, { tenantId: "t1", scopes: ["admin", "audit:read"], sub: "tester", ...claims }, clock.now()),
    async rest(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
        headers["content-type"] ??= "application/json";
      }
      const res = await fetch(baseUrl + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    stop,
    async close() {
      await stop();
      await fresh?.drop();
    },
  };
}
