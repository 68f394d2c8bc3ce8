import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionAlpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { SecretsService } from "../../gen/scaivault/v1/secrets_pb.js";
import { call, createTestApp, startTestServer, type TestServer } from "./fixtures.js";

const protoRoot = fileURLToPath(new URL("../../proto", import.meta.url));
const bufBin = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

/** The ConnectError a call fails with (undefined when it succeeds). */
const failureOf = (call: Promise<unknown>) => call.then(() => undefined, (e: unknown) => ConnectError.from(e));

/** A client from the .proto files via @grpc/proto-loader: independent of the generated code. */
function grpcJsClient(file: string, service: string): any {
  const def = protoLoader.loadSync(file, { includeDirs: [protoRoot], keepCase: true, defaults: true, oneofs: true, enums: String });
  const ctor = service.split(".").reduce((o: any, k) => o[k], grpc.loadPackageDefinition(def));
  return new ctor(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
}

function unary(client: any, method: string, request: unknown): Promise<any> {
  return new Promise((resolve, reject) =>
    client[method](request, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err: grpc.ServiceError | null, res: unknown) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

describe("Connect", () => {
  it("serves Connect JSON with snake_case names and json_null fields", async () => {
    const res = await call(`${s.baseUrl}/scaivault.v1.SecretsService/GetSecret`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1", "x-request-id": "connect-1" },
      body: JSON.stringify({ path: "db/main" }),
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      path: "db/main",
      version: 3,
      secret_type: "kv",
      data: { password: "s3cret" },
      created_at: "2026-04-23T14:00:00Z",
      expires_at: null,
    });
    const requestId = res.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(s.seen[s.seen.length - 1]).toMatchObject({ method: "GetSecret", requestId, clientRequestId: "connect-1" });
  });

  it("carries the contract code as ErrorInfo and never the internal message", async () => {
    const client = createClient(SecretsService, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }));
    const notFound = await failureOf(client.getSecret({ path: "nope" }));
    expect(notFound).toMatchObject({ code: Code.NotFound, rawMessage: "secret not found" });
    expect(notFound?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("secret_not_found");

    const internal = await failureOf(client.getSecret({ path: "boom" }));
    expect(internal).toMatchObject({ code: Code.Internal, rawMessage: "internal error" });
  });

  it("serves Connect over h2c on the same port", async () => {
    const client = createClient(SecretsService, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "2" }));
    expect((await client.getSecret({ path: "db/main" })).version).toBe(3);
  });
});

describe("gRPC-web", () => {
  it("serves gRPC-web over HTTP/1.1", async () => {
    const client = createClient(SecretsService, createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }));
    const secret = await client.getSecret({ path: "db/main" });
    expect(secret).toMatchObject({ path: "db/main", version: 3, data: { password: "s3cret" } });
    expect(await failureOf(client.getSecret({ path: "nope" }))).toMatchObject({ code: Code.NotFound });
  });
});

describe("gRPC (grpc-js over h2c)", () => {
  it("calls a unary method", async () => {
    const client = grpcJsClient("scaivault/v1/secrets.proto", "scaivault.v1.SecretsService");
    const secret = await unary(client, "GetSecret", { path: "db/main" });
    expect(secret).toMatchObject({ path: "db/main", version: 3, secret_type: "kv" });
    client.close();
  });

  it("sends status codes, and `internal` without the cause", async () => {
    const client = grpcJsClient("scaivault/v1/secrets.proto", "scaivault.v1.SecretsService");
    await expect(unary(client, "GetSecret", { path: "nope" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: "secret not found" });
    const err = await unary(client, "GetSecret", { path: "boom" }).catch((e: grpc.ServiceError) => e);
    expect(err).toMatchObject({ code: grpc.status.INTERNAL, details: "internal error" });
    expect(JSON.stringify(err)).not.toContain("hunter2");
    client.close();
  });

  it("answers health checks without auth, following readiness", async () => {
    const client = grpcJsClient("grpc/health/v1/health.proto", "grpc.health.v1.Health");
    expect(await unary(client, "Check", { service: "" })).toEqual({ status: "SERVING" });
    expect(await unary(client, "Check", { service: "scaivault.v1.SecretsService" })).toEqual({ status: "SERVING" });
    s.setReady(false);
    expect(await unary(client, "Check", { service: "" })).toEqual({ status: "NOT_SERVING" });
    s.setReady(true);
    await expect(unary(client, "Check", { service: "no.Such" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    client.close();
  });

  it("lists services and serves descriptors over reflection", async () => {
    const client = grpcJsClient("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1.ServerReflection");
    const stream = client.ServerReflectionInfo();
    const responses: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (r: any) => responses.push(r));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    stream.write({ list_services: "" });
    stream.write({ file_containing_symbol: "scaivault.v1.SecretsService.GetSecret" });
    stream.write({ file_containing_symbol: "no.Such" });
    stream.end();
    await done;
    client.close();

    const names = responses[0].list_services_response.service.map((x: { name: string }) => x.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "scaivault.v1.SecretsService",
        "scaivault.v1.RotationService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
    const files = responses[1].file_descriptor_response.file_descriptor_proto.map(
      (b: Buffer) => fromBinary(FileDescriptorProtoSchema, new Uint8Array(b)).name,
    );
    expect(files[0]).toBe("scaivault/v1/secrets.proto");
    expect(files).toEqual(expect.arrayContaining(["google/api/annotations.proto", "google/protobuf/descriptor.proto", "scaivault/v1/options.proto"]));
    expect(responses[2].error_response).toMatchObject({ error_code: grpc.status.NOT_FOUND });
  });
});

describe("gRPC (Connect client over h2c)", () => {
  it("watches health and speaks reflection v1alpha", async () => {
    const transport = createGrpcTransport({ baseUrl: s.baseUrl });
    // Collect first, assert after: an expect inside a loop passes when the stream is empty.
    const statuses: HealthCheckResponse_ServingStatus[] = [];
    for await (const res of createClient(Health, transport).watch({ service: "" })) {
      statuses.push(res.status);
      break;
    }
    expect(statuses).toEqual([HealthCheckResponse_ServingStatus.SERVING]);
    const reflection = createClient(ServerReflectionAlpha, transport);
    async function* requests() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
    }
    const answers: string[] = [];
    for await (const res of reflection.serverReflectionInfo(requests())) {
      answers.push(String(res.messageResponse.case));
      if (res.messageResponse.case === "listServicesResponse") {
        expect(res.messageResponse.value.service.map((svc) => svc.name)).toContain("scaivault.v1.SecretsService");
      }
    }
    expect(answers).toEqual(["listServicesResponse"]);
  });

  it("is understood by buf curl through reflection", async () => {
    const { stdout } = await promisify(execFile)(bufBin, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect",
      "-d",
      '{"path":"db/main"}',
      `${s.baseUrl}/scaivault.v1.SecretsService/GetSecret`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ path: "db/main", version: 3, secretType: "kv" });
  });
});

describe("fetch entry", () => {
  const { app } = createTestApp();

  it("serves REST", async () => {
    const res = await app.fetch(new Request("http://vault.test/v1/secrets/db/main"), { clientAddress: "10.0.0.7" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ path: "db/main", expires_at: null });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("serves Connect", async () => {
    const res = await app.fetch(
      new Request("http://vault.test/scaivault.v1.SecretsService/GetSecret", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ path: "db/main" }),
      }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ path: "db/main", secret_type: "kv", expires_at: null });
  });

  it("refuses native gRPC, which needs trailers", async () => {
    const res = await app.fetch(
      new Request("http://vault.test/scaivault.v1.SecretsService/GetSecret", { method: "POST", headers: { "content-type": "application/grpc" }, body: "" }),
    );
    expect(res.headers.get("grpc-status")).toBe(String(Code.Unimplemented));
  });
});
