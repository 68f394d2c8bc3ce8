import * as net from "node:net";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUniversalApp } from "../../src/transport/universal-app.js";
import { startServer } from "../../src/transport/node-server.js";
import { silentLogger } from "../../src/log.js";
import { startTestVault, testJwtSecret, type TestVault } from "../support/vault.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { rawRequest } from "./raw-http.js";

describe("hostile input is refused with the contract's 4xx, never a 500", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "hostile", scopes: ["admin", "audit:read"] });
    expect((await tv.rest("PUT", "/v1/secrets/app/db", { token, body: { data: { v: 1 } } })).status).toBe(201);
  });
  afterAll(async () => tv?.close());

  const auth = () => ({ authorization: `Bearer ${token}` });

  it("refuses . and .. segments, raw or encoded, before routing", async () => {
    const put = await rawRequest(tv.port, "PUT", "/v1/secrets/app/%2E%2E/x", {
      headers: { ...auth(), "content-type": "application/json" },
      body: JSON.stringify({ data: { v: 1 } }),
    });
    expect(put.status).toBe(400);
    expect(put.body.error.code).toBe("invalid_path");
    expect((await tv.rest("GET", "/v1/secrets/x", { token })).status).toBe(404);
    for (const target of ["/v1/secrets/x/../../audit/events", "/v1/secrets/app/./db", "/v1/secrets/app/%2e/db", "/v1/secrets/app/.%2E/db", "/v1/secrets/app//db", "/v1/secrets/app/db/"]) {
      const res = await rawRequest(tv.port, "GET", target, { headers: auth() });
      expect({ target, status: res.status, code: res.body?.error?.code }).toEqual({ target, status: 400, code: "invalid_path" });
    }
    // Dots inside a segment are ordinary characters.
    expect((await rawRequest(tv.port, "GET", "/v1/secrets/app/db", { headers: auth() })).status).toBe(200);
  });

  it("refuses a /v1/t/ tenant that is not a tenant id instead of acting on the caller's own tenant", async () => {
    for (const tenant of ["%0A", "%00", "%20", "a%2Fb"]) {
      const res = await rawRequest(tv.port, "GET", `/v1/t/${tenant}/secrets/app/db`, { headers: auth() });
      expect({ tenant, status: res.status, code: res.body?.error?.code }).toEqual({ tenant, status: 400, code: "invalid_request" });
    }
  });

  it("refuses U+0000 in query parameters, path ids and JSON strings, naming the field, and audits the call", async () => {
    const cases: [string, string, unknown, string][] = [
      ["GET", "/v1/secrets?prefix=a%00b", undefined, "prefix"],
      ["GET", "/v1/secrets?tag=a%00", undefined, "tag"],
      ["GET", "/v1/audit/events?actor=%00", undefined, "actor"],
      ["GET", "/v1/audit/events?action=Get%00Secret", undefined, "action"],
      ["GET", "/v1/rotation/due?policy_id=rot_%00", undefined, "policy_id"],
      ["GET", "/v1/rotation/policies/rot_%00x", undefined, "id"],
      ["GET", "/v1/webhooks/wh_%00", undefined, "id"],
      ["PATCH", "/v1/secrets/app/db", { metadata: { description: "a\u0000b" } }, "metadata.description"],
      ["PUT", "/v1/secrets/app/db2", { data: { v: 1 }, metadata: { owner: "\u0000" } }, "metadata.owner"],
      ["POST", "/v1/secret-policies", { name: "nul", charset: "custom", chars: "ab\u0000cdefgh" }, "chars"],
      ["POST", "/v1/secrets/app/db/rotate", { reason: "r\u0000", new_value: { v: 2 } }, "reason"],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await tv.rest(method, path, { token, body });
      expect({ path, status: res.status, code: res.body?.error?.code }).toEqual({ path, status: 400, code: "invalid_request" });
      expect(res.body.error.message).toContain(field);
    }
    const audit = await tv.rest("GET", "/v1/audit/events?action=ListSecrets", { token });
    expect(audit.body.data.some((e: any) => e.outcome === "invalid_request")).toBe(true);
    // A NUL inside a secret's value is data, stored encrypted: allowed.
    expect((await tv.rest("PUT", "/v1/secrets/app/nul-value", { token, body: { data: { v: "a\u0000b" } } })).status).toBe(201);
  });

  it("answers 400 invalid_request to a malformed Connect binary body, with or without a token", async () => {
    for (const headers of [{}, auth()]) {
      const res = await fetch(`${tv.baseUrl}/scaivault.v1.SecretsService/GetSecret`, {
        method: "POST",
        headers: { "content-type": "application/proto", "connect-protocol-version": "1", ...headers },
        body: new Uint8Array([0x0a, 0x7f, 0x61]), // field 1, length 127, one byte: premature EOF
      });
      expect(res.status).toBe(400);
      const body = await res.json();
      expect(body.code).toBe("invalid_argument");
      expect(body.message).not.toContain("premature");
      expect(body.details?.[0]?.type).toBe("google.rpc.ErrorInfo");
    }
    // A valid binary body still reaches the handler.
    const ok = await fetch(`${tv.baseUrl}/scaivault.v1.SecretsService/GetSecret`, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1", ...auth() },
      body: new Uint8Array([0x0a, 0x06, ...new TextEncoder().encode("app/db")]),
    });
    expect(ok.status).toBe(200);
  });

  it("answers bad Connect JSON and gRPC-web messages invalid_argument without echoing the value", async () => {
    const canary = "CANARY_value_7f3a";
    const json = await rawRequest(tv.port, "POST", "/scaivault.v1.SecretsService/PutSecret", {
      headers: { "content-type": "application/json", ...auth() },
      body: JSON.stringify({ path: "app/y", data: canary }),
    });
    expect(json.status).toBe(400);
    expect(json.body.code).toBe("invalid_argument");
    expect(JSON.stringify(json.body)).not.toContain(canary);
    const web = await rawRequest(tv.port, "POST", "/scaivault.v1.SecretsService/GetSecret", {
      headers: { "content-type": "application/grpc-web+proto" },
      body: new Uint8Array([0, 0, 0, 0, 3, 0x0a, 0x7f, 0x61]),
    });
    expect(web.status).toBe(200);
    expect(web.headers["grpc-status"]).toBe("3");
  });

  it("refuses options.cas -1 as invalid_request", async () => {
    const res = await tv.rest("PUT", "/v1/secrets/app/db", { token, body: { data: { v: 3 }, options: { cas: -1 } } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request" });
    expect(res.body.error.message).toContain("cas");
  });

  it("refuses a token issued in the future beyond the skew, and a sub with control characters", async () => {
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, unknown>, iat: number) =>
      new SignJWT({ tenant_id: "hostile", scope: "admin", ...claims })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuedAt(iat)
        .setExpirationTime(iat + 7200)
        .sign(new TextEncoder().encode(testJwtSecret));
    const future = await sign({ sub: "x" }, now + 3600);
    const res = await tv.rest("GET", "/v1/secrets/app/db", { token: future });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toContain("iat");
    expect((await tv.rest("GET", "/v1/secrets/app/db", { token: await sign({ sub: "x" }, now + 5) })).status).toBe(200);
    for (const sub of ["a\u0000b", "line\nbreak", "\ud800", "x".repeat(300)]) {
      const poisoned = await sign({ sub }, now);
      expect((await tv.rest("GET", "/v1/secrets/app/db", { token: poisoned })).status).toBe(401);
    }
  });

  it("answers gRPC calls with a NUL in a field as INVALID_ARGUMENT", async () => {
    const client = grpcClient(tv.port, "SecretsService", "secrets.proto");
    try {
      const err = await unary(client, "ListSecrets", { prefix: "a\u0000" }, token).catch((e) => e);
      expect(err.code).toBe(3);
      expect(reasonOf(err)).toBe("invalid_request");
    } finally {
      client.close();
    }
  });
});

describe("slow clients", () => {
  it("cuts a client that sends its headers a byte at a time after the header timeout", async () => {
    const app = createUniversalApp({ routes: () => {}, interceptors: [], logger: silentLogger, ready: async () => true });
    const server = await startServer({ app, port: 0, host: "127.0.0.1", logger: silentLogger, headersTimeoutMs: 1000 });
    try {
      const socket = net.connect(server.port, "127.0.0.1");
      const request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a".repeat(10_000);
      let sent = 0;
      const drip = setInterval(() => {
        if (sent < request.length && !socket.destroyed) socket.write(request[sent++]!);
      }, 50);
      const answer = await new Promise<string>((resolve) => {
        let text = "";
        socket.on("data", (d) => (text += d.toString()));
        socket.on("close", () => resolve(text));
        socket.on("error", () => {});
      });
      clearInterval(drip);
      // Cut long before the headers could have been completed (10,000 bytes at 20 a second).
      expect(sent).toBeLessThan(10_000);
      expect(answer === "" || answer.startsWith("HTTP/1.1 408")).toBe(true);
    } finally {
      await server.close();
    }
  });
});
