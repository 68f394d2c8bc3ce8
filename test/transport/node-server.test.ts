import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService } from "../../gen/scaivault/v1/secrets_pb.js";
import { createLogger } from "../../src/log.js";
import { startServer } from "../../src/transport/node-server.js";
import { call, createTestApp, startTestServer } from "./fixtures.js";

const protoRoot = fileURLToPath(new URL("../../proto", import.meta.url));

function grpcGetSecret(port: number, path: string): Promise<any> {
  const def = protoLoader.loadSync("scaivault/v1/secrets.proto", { includeDirs: [protoRoot], keepCase: true });
  const Ctor = (grpc.loadPackageDefinition(def) as any).scaivault.v1.SecretsService;
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.GetSecret({ path }, (err: Error | null, res: unknown) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

async function until(condition: () => boolean) {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}

describe("graceful close", () => {
  it("finishes calls in flight on HTTP/1.1 and HTTP/2, then refuses new connections", async () => {
    const s = await startTestServer();
    const rest = call(`${s.baseUrl}/v1/secrets/slow`);
    const viaGrpc = grpcGetSecret(s.port, "slow");
    await until(() => s.seen.filter((c) => c.method === "GetSecret").length === 2);

    const closing = s.close();
    // While draining, readiness already says no.
    expect((await s.app.fetch(new Request("http://vault.test/readyz"))).status).toBe(503);

    expect(await rest).toMatchObject({ status: 200, body: { path: "slow" } });
    expect(await viaGrpc).toMatchObject({ path: "slow", version: 1 });
    await closing;
    await expect(fetch(`${s.baseUrl}/healthz`)).rejects.toThrow();
  });

  it("does not wait for idle keep-alive or silent connections", async () => {
    // A shutdown timeout far beyond the test's own: were close() to wait for the idle
    // connections, the test would time out instead of passing.
    const s = await startTestServer({ shutdownTimeoutMs: 3_600_000 });
    await call(`${s.baseUrl}/v1/secrets/db/main`);
    await grpcGetSecret(s.port, "db/main");
    const silent = net.connect(s.port, "127.0.0.1"); // connected, never says a word
    await once(silent, "connect");
    const silentClosed = once(silent, "close");
    await s.close();
    await silentClosed;
  });

  it("cuts calls that outlast the shutdown timeout", async () => {
    const s = await startTestServer({ shutdownTimeoutMs: 50 });
    // The handler never finishes, so close() can only resolve by cutting the call.
    const rest = call(`${s.baseUrl}/v1/secrets/stuck`).catch((err: unknown) => err);
    await until(() => s.seen.length === 1);
    await s.close();
    expect(await rest).toBeInstanceOf(Error);
  });
});

describe("TLS", () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "scaivault-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    cert = readFileSync(join(dir, "cert.pem"));
    key = readFileSync(join(dir, "key.pem"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves HTTP/1.1 and HTTP/2 on one port by ALPN", async () => {
    const { app } = createTestApp();
    const server = await startServer({ app, port: 0, host: "127.0.0.1", tls: { cert, key }, logger: createLogger({ write: () => {} }) });
    try {
      const rest = await new Promise<{ status: number; body: string; alpn: string }>((resolve, reject) => {
        // A client that offers only HTTP/1.1 by ALPN must get it on the same port as h2.
        const options = { host: "127.0.0.1", port: server.port, path: "/v1/secrets/db/main", ca: cert, ALPNProtocols: ["http/1.1"] };
        const req = https.get(options, (res) => {
          const alpn = String((res.socket as { alpnProtocol?: string }).alpnProtocol);
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode!, body, alpn }));
        });
        req.on("error", reject);
      });
      expect(rest).toMatchObject({ status: 200, alpn: "http/1.1" });
      expect(JSON.parse(rest.body)).toMatchObject({ path: "db/main" });

      const transport = createGrpcTransport({ baseUrl: `https://127.0.0.1:${server.port}`, nodeOptions: { ca: cert } });
      expect(await createClient(SecretsService, transport).getSecret({ path: "db/main" })).toMatchObject({ version: 3 });
    } finally {
      await server.close();
    }
  });
});
