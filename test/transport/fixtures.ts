import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { RotationService } from "../../gen/scaivault/v1/rotation_pb.js";
import { PutSecretResponseSchema, SecretsService, SecretSchema, type Secret } from "../../gen/scaivault/v1/secrets_pb.js";
import { clientAddressKey, clientRequestIdKey, requestIdKey } from "../../src/auth/principal.js";
import { ScaiVaultError } from "../../src/errors.js";
import { asCreated } from "../../src/handler-support.js";
import { createLogger } from "../../src/log.js";
import { targetTenantHeader } from "../../src/transport/http-headers.js";
import { startServer, type RunningServer } from "../../src/transport/node-server.js";
import { createUniversalApp, type UniversalApp } from "../../src/transport/universal-app.js";

/** What an interceptor saw of one call: proves interceptors run, and with which context, on every protocol. */
export interface SeenCall {
  method: string;
  tenant: string | null;
  authorization: string | null;
  requestId: string;
  clientRequestId?: string;
  clientAddress: string | undefined;
  /** The request message of a unary call, as the handler receives it. */
  message: unknown;
}

export const createdAt = new Date("2026-04-23T14:00:00Z");

/** A SecretsService without a database: canned secrets in a Map, plus paths that misbehave on purpose. */
function fakeSecrets(): ConnectRouterRoutes {
  const store = new Map<string, Secret>([
    ["db/main", create(SecretSchema, { path: "db/main", version: 3, secretType: "kv", data: { password: "s3cret" }, createdAt: timestampFromDate(createdAt) })],
  ]);
  return (router) =>
    router.service(SecretsService, {
      async getSecret(req) {
        if (req.path === "boom") throw new Error("connection to postgres://admin:hunter2@db failed");
        if (req.path === "large") return create(SecretSchema, { path: "large", version: 1, data: { blob: "x".repeat(4096) } });
        // Ignores its signal, as a handler stuck on a slow query would: only the deadline ends the call.
        if (req.path === "stuck") {
          await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
          return create(SecretSchema, { path: "stuck", version: 1 });
        }
        if (req.path === "slow") {
          await new Promise((resolve) => setTimeout(resolve, 400));
          return create(SecretSchema, { path: "slow", version: 1 });
        }
        const secret = store.get(req.path);
        if (!secret) throw new ScaiVaultError("secret_not_found", "secret not found");
        return secret;
      },
      async putSecret(req) {
        const existing = store.get(req.path);
        const version = (existing?.version ?? 0) + 1;
        store.set(req.path, create(SecretSchema, { path: req.path, version, secretType: req.secretType ?? "kv", data: req.data, createdAt: timestampFromDate(createdAt) }));
        const reply = create(PutSecretResponseSchema, { path: req.path, version, created: !existing, previousVersion: existing?.version, createdAt: timestampFromDate(createdAt) });
        return existing ? reply : asCreated(reply);
      },
      async getSecretMetadata(req) {
        return { path: req.path, currentVersion: 1 };
      },
      async listSecretVersions(req) {
        return { path: req.path, versions: [{ version: 1, isCurrent: true }] };
      },
      async listExpiringSecrets(req) {
        return { secrets: [{ path: `within-${req.days ?? 30}-days`, daysRemaining: req.days ?? 30 }] };
      },
      async rotateSecret(req) {
        return { path: req.path, version: 2, previousVersion: 1 };
      },
      // Echoes the filters back so tests can see how query parameters were coerced.
      async listSecrets(req) {
        return {
          secrets: req.tag.map((tag) => ({ path: tag, tags: req.tag })),
          hasMore: req.includeExpired,
          totalCount: req.limit ?? -1,
        };
      },
    });
}

function fakeRotation(): ConnectRouterRoutes {
  return (router) =>
    router.service(RotationService, {
      async detachSecret(req) {
        return { policyId: req.id, secretPath: req.secretPath, detached: true };
      },
      async rotatePolicy(req) {
        return { items: req.secretPaths.map((secretPath, i) => ({ id: `rh_${i}`, policyId: req.id, secretPath, status: "success" })) };
      },
    });
}

type ConnectRouterRoutes = (router: ConnectRouter) => void;

export interface TestServer {
  app: UniversalApp;
  server: RunningServer;
  baseUrl: string;
  port: number;
  seen: SeenCall[];
  logs: string[];
  /** Flips what `ready()` answers. */
  setReady(ready: boolean): void;
  close(): Promise<void>;
}

export interface TestAppOptions {
  maxBodyBytes?: number;
  /** The server's longest unary call (SCAIVAULT_MAX_CALL_DURATION). */
  maxTimeoutMs?: number;
}

/** Builds the app around the fakes (no server), with gzip and br as the server has them. */
export function createTestApp(options: TestAppOptions = {}) {
  const seen: SeenCall[] = [];
  const logs: string[] = [];
  let ready = true;
  const recorder: Interceptor = (next) => async (req) => {
    seen.push({
      method: req.method.name,
      tenant: req.header.get(targetTenantHeader),
      authorization: req.header.get("authorization"),
      requestId: req.contextValues.get(requestIdKey),
      clientRequestId: req.contextValues.get(clientRequestIdKey),
      clientAddress: req.contextValues.get(clientAddressKey),
      message: req.stream ? undefined : req.message,
    });
    return next(req);
  };
  const app = createUniversalApp({
    routes: (router) => {
      fakeSecrets()(router);
      fakeRotation()(router);
    },
    interceptors: [recorder],
    logger: createLogger({ level: "debug", write: (line) => logs.push(line) }),
    ready: async () => ready,
    maxBodyBytes: options.maxBodyBytes,
    maxTimeoutMs: options.maxTimeoutMs,
    compression: [compressionGzip, compressionBrotli],
    extraRoutes: [{ method: "GET", path: "/openapi.json", handle: async () => Response.json({ openapi: "3.1.0" }) }],
  });
  return { app, seen, logs, setReady: (r: boolean) => void (ready = r) };
}

/** Starts the fake app on 127.0.0.1, port 0. */
export async function startTestServer(options: TestAppOptions & { shutdownTimeoutMs?: number } = {}): Promise<TestServer> {
  const { app, seen, logs, setReady } = createTestApp(options);
  const server = await startServer({
    app,
    port: 0,
    host: "127.0.0.1",
    logger: createLogger({ level: "debug", write: (line) => logs.push(line) }),
    shutdownTimeoutMs: options.shutdownTimeoutMs,
  });
  return { app, server, baseUrl: `http://127.0.0.1:${server.port}`, port: server.port, seen, logs, setReady, close: () => server.close() };
}

/** A fetch that returns status, parsed JSON body and headers. */
export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}
