import { create } from "@bufbuild/protobuf";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService, GetSecretRequestSchema } from "../../gen/scaivault/v1/secrets_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";

describe("one port, four protocols, same handler", () => {
  let tv: TestVault;
  let token: string;
  const auth = () => ({ headers: { authorization: `Bearer ${token}` } });
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "proto" });
  });
  afterAll(async () => tv?.close());

  it("REST (HTTP/1.1 JSON) writes and reads", async () => {
    const put = await tv.rest("PUT", "/v1/secrets/p/rest", { token, body: { data: { via: "rest", n: 1 }, secret_type: "json" } });
    expect(put.status).toBe(201);
    const get = await tv.rest("GET", "/v1/secrets/p/rest", { token });
    expect(get.body.data).toEqual({ via: "rest", n: 1 });
  });

  it("Connect JSON writes and reads with snake_case fields", async () => {
    const base = `${tv.baseUrl}/scaivault.v1.SecretsService`;
    const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
    const put = await fetch(`${base}/PutSecret`, { method: "POST", headers, body: JSON.stringify({ path: "p/connect", data: { via: "connect", n: 2 } }) });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ path: "p/connect", version: 1, created: true });
    const get = await fetch(`${base}/GetSecret`, { method: "POST", headers, body: JSON.stringify({ path: "p/connect" }) });
    const body = await get.json();
    expect(body).toMatchObject({ path: "p/connect", version: 1, secret_type: "kv", data: { via: "connect", n: 2 } });
    const missing = await fetch(`${base}/GetSecret`, { method: "POST", headers, body: JSON.stringify({ path: "p/none" }) });
    expect(missing.status).toBe(404);
    const err = await missing.json();
    expect(err.code).toBe("not_found");
    expect(JSON.stringify(err.details)).toContain("ErrorInfo");
  });

  it("Connect binary and gRPC-web through connect-node clients", async () => {
    for (const [name, transport] of [
      ["connect", createConnectTransport({ baseUrl: tv.baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
      ["grpc-web", createGrpcWebTransport({ baseUrl: tv.baseUrl, httpVersion: "1.1" })],
      ["grpc-web-h2", createGrpcWebTransport({ baseUrl: tv.baseUrl, httpVersion: "2" })],
    ] as const) {
      const client = createClient(SecretsService, transport);
      const put = await client.putSecret({ path: `p/client-${name}`, data: { via: name } }, auth());
      expect(put.version).toBe(1);
      const got = await client.getSecret(create(GetSecretRequestSchema, { path: `p/client-${name}` }), auth());
      expect(got.data).toEqual({ via: name });
      const fromRest = await tv.rest("GET", `/v1/secrets/p/client-${name}`, { token });
      expect(fromRest.body.data).toEqual({ via: name });
      try {
        await client.getSecret({ path: "p/none" }, auth());
        expect.unreachable();
      } catch (e) {
        const err = ConnectError.from(e);
        expect(err.code).toBe(Code.NotFound);
        expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("secret_not_found");
      }
    }
  });

  it("gRPC over HTTP/2 from @grpc/grpc-js with proto-loader", async () => {
    const client = grpcClient(tv.port, "SecretsService", "secrets.proto");
    try {
      const put = await unary(client, "PutSecret", {
        path: "p/grpc",
        data: { fields: { via: { stringValue: "grpc" }, n: { numberValue: 4 } } },
        secret_type: "json",
      }, token);
      expect(put).toMatchObject({ path: "p/grpc", version: 1, created: true });
      const got = await unary(client, "GetSecret", { path: "p/grpc" }, token);
      expect(got.data.fields.via.stringValue).toBe("grpc");
      const rest = await tv.rest("GET", "/v1/secrets/p/grpc", { token });
      expect(rest.body.data).toEqual({ via: "grpc", n: 4 });
      // REST-written value reads the same over gRPC
      const fromRest = await unary(client, "GetSecret", { path: "p/rest" }, token);
      expect(fromRest.data.fields.via.stringValue).toBe("rest");

      const missing = await unary(client, "GetSecret", { path: "p/none" }, token).catch((e) => e);
      expect(missing.code).toBe(grpc.status.NOT_FOUND);
      expect(reasonOf(missing)).toBe("secret_not_found");
      const noToken = await unary(client, "GetSecret", { path: "p/grpc" }).catch((e) => e);
      expect(noToken.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(reasonOf(noToken)).toBe("unauthenticated");
      const badPath = await unary(client, "GetSecret", { path: "a//b" }, token).catch((e) => e);
      expect(badPath.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(reasonOf(badPath)).toBe("invalid_path");
      const reader = await tv.token({ tenantId: "proto", scopes: ["secrets:read"] });
      const denied = await unary(client, "PutSecret", { path: "p/x", data: { fields: {} } }, reader).catch((e) => e);
      expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(reasonOf(denied)).toBe("access_denied");
    } finally {
      client.close();
    }
  });

  it("serves the same app through the fetch-style entry (edge runtimes)", async () => {
    const put = await tv.vault.app.fetch(
      new Request("http://edge.local/v1/secrets/p/edge", {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ data: { via: "edge" } }),
      }),
    );
    expect(put.status).toBe(201);
    const connect = await tv.vault.app.fetch(
      new Request("http://edge.local/scaivault.v1.SecretsService/GetSecret", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ path: "p/edge" }),
      }),
    );
    expect(connect.status).toBe(200);
    expect((await connect.json()).data).toEqual({ via: "edge" });
    const rest = await tv.rest("GET", "/v1/secrets/p/edge", { token });
    expect(rest.body.data).toEqual({ via: "edge" });
  });

  it("health: /healthz, /readyz and grpc.health.v1", async () => {
    expect((await fetch(`${tv.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${tv.baseUrl}/readyz`)).status).toBe(200);
  });

  it("routing errors: 404 JSON, 405, 400 malformed JSON naming the problem, 413", async () => {
    const notFound = await tv.rest("GET", "/v1/nothing/here", { token });
    expect(notFound.status).toBe(404);
    expect(notFound.body.error.code).toBeTruthy();
    expect(notFound.body.error.request_id).toBeTruthy();
    const wrongMethod = await tv.rest("POST", "/v1/secrets/expiring", { token });
    expect(wrongMethod.status).toBe(405);
    const malformed = await tv.rest("PUT", "/v1/secrets/p/bad", { token, body: "{not json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("invalid_request");
    const wrongType = await tv.rest("PUT", "/v1/secrets/p/bad", { token, body: { data: { a: 1 }, options: { max_versions: "many" } } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toContain("max_versions");
    const huge = await tv.rest("PUT", "/v1/secrets/p/huge", { token, body: { data: { v: "x".repeat(1_100_000) } } });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe("payload_too_large");
  });
});
