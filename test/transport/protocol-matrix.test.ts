import { execFile } from "node:child_process";
import * as http from "node:http";
import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { AuditService } from "../../gen/scaivault/v1/audit_pb.js";
import { GetSecretRequestSchema, SecretSchema, SecretsService } from "../../gen/scaivault/v1/secrets_pb.js";
import { reasonOf } from "../support/grpc.js";
import { startTestServer, type TestServer } from "./fixtures.js";

// Every protocol × {compressed request, compressed response, deadline, unknown method, error
// details decoded by buf curl}, against the fake app on a real port. Raw HTTP requests show the
// wire (encodings, flags, status placement); real clients show that they understand it.

const bufBin = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const getSecretPath = "/scaivault.v1.SecretsService/GetSecret";
const maxBodyBytes = 64 * 1024;
/** The server's longest call, short enough to see it fire; clients' own deadlines in these tests are shorter still. */
const maxTimeoutMs = 1_500;

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ maxBodyBytes, maxTimeoutMs });
});
afterAll(() => s.close());

const request = (path: string) => Buffer.from(toBinary(GetSecretRequestSchema, create(GetSecretRequestSchema, { path })));
const compressors = { gzip: zlib.gzipSync, br: zlib.brotliCompressSync };
const decompressors = { gzip: zlib.gunzipSync, br: zlib.brotliDecompressSync };

function framed(message: Buffer, flags = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

function frames(body: Buffer): { flags: number; data: Buffer }[] {
  const out = [];
  for (let i = 0; i + 5 <= body.length; ) {
    const length = body.readUInt32BE(i + 1);
    out.push({ flags: body[i]!, data: body.subarray(i + 5, i + 5 + length) });
    i += 5 + length;
  }
  return out;
}

/** A 200 MB run of zeros, gzipped (about 200 KB), made chunk by chunk so the test itself stays small. */
async function gzipBomb(): Promise<Buffer> {
  const gzip = zlib.createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => gzip.on("end", resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 200; i++) if (!gzip.write(zeros)) await new Promise((r) => gzip.once("drain", r));
  gzip.end();
  await done;
  return Buffer.concat(chunks);
}

interface Exchange {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One raw HTTP/2 exchange (h2c, prior knowledge); no client-side deadline of any kind. */
async function h2(path: string, headers: Record<string, string>, body: Buffer): Promise<Exchange> {
  const session = http2.connect(s.baseUrl);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => (responseHeaders = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => resolve({ status: Number(responseHeaders[":status"]), headers: responseHeaders, trailers, body: Buffer.concat(chunks) }));
      stream.on("error", reject);
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

/**
 * One raw HTTP/1.1 exchange on its own connection (a server may close one whose request body it
 * refused unread); the body is returned as sent (no automatic decompression).
 */
function h1(path: string, headers: Record<string, string>, body: Buffer): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.baseUrl}${path}`, { method: "POST", agent: false, headers: { ...headers, "content-length": String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, trailers: {}, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The contract code in a gRPC answer's grpc-status-details-bin (headers or trailers). */
function grpcReason(fields: Record<string, string | string[] | undefined>): string | undefined {
  const details = fields["grpc-status-details-bin"] as string | undefined;
  return details ? reasonOf({ metadata: { get: () => [Buffer.from(details, "base64")] } } as never) : undefined;
}

/** gRPC-web trailers: the last frame, flag 0x80, `name: value` lines. */
function grpcWebTrailers(body: Buffer): Record<string, string> {
  const last = frames(body).find((f) => f.flags & 0x80);
  const out: Record<string, string> = {};
  for (const line of (last?.data.toString() ?? "").split("\r\n").filter(Boolean)) {
    const at = line.indexOf(":");
    out[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return out;
}

const failureOf = (call: Promise<unknown>) => call.then(() => undefined, (e: unknown) => ConnectError.from(e));

describe("gRPC", () => {
  it.each(["gzip", "br"] as const)("reads a %s-compressed request on the fast path", async (encoding) => {
    const res = await h2(getSecretPath, { "content-type": "application/grpc", "grpc-encoding": encoding }, framed(compressors[encoding](request("db/main")), 1));
    expect(res.trailers["grpc-status"]).toBe("0");
    const [reply] = frames(res.body);
    expect(fromBinary(SecretSchema, reply!.data)).toMatchObject({ path: "db/main", version: 3 });
  });

  it("reads gzip-compressed requests from grpc-js (which compresses every message)", async () => {
    const client = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure(), { "grpc.default_compression_algorithm": 2 });
    const reply = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(getSecretPath, (m: Buffer) => m, (b: Buffer) => b, request("db/main"), (err, res) => (err ? reject(err) : resolve(res!))),
    );
    expect(fromBinary(SecretSchema, reply)).toMatchObject({ path: "db/main", version: 3 });
    client.close();
  });

  it.each(["gzip", "br"] as const)("compresses a large response with %s when the client accepts it", async (encoding) => {
    const res = await h2(getSecretPath, { "content-type": "application/grpc", "grpc-accept-encoding": encoding }, framed(request("large")));
    expect(res.headers["grpc-encoding"]).toBe(encoding);
    const [reply] = frames(res.body);
    expect(reply!.flags & 1).toBe(1);
    expect(reply!.data.length).toBeLessThan(4096);
    const secret = fromBinary(SecretSchema, decompressors[encoding](reply!.data));
    expect(secret.data?.blob).toHaveLength(4096);
  });

  it("refuses a 200 MB gzip bomb with RESOURCE_EXHAUSTED without inflating it", async () => {
    const bomb = await gzipBomb();
    expect(bomb.length).toBeLessThan(maxBodyBytes * 4); // a small body on the wire
    const before = process.memoryUsage().rss;
    const res = await h2(getSecretPath, { "content-type": "application/grpc", "grpc-encoding": "gzip" }, framed(bomb, 1));
    expect(res.trailers["grpc-status"]).toBe(String(Code.ResourceExhausted));
    expect(grpcReason(res.trailers)).toBe("payload_too_large");
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  }, 60_000);

  it("ends the call with DEADLINE_EXCEEDED from the server at the client's grpc-timeout", async () => {
    // A raw exchange has no deadline of its own: the answer can only come from the server's timer.
    const res = await h2(getSecretPath, { "content-type": "application/grpc", "grpc-timeout": "200m" }, framed(request("stuck")));
    expect(res.status).toBe(200);
    expect(res.trailers["grpc-status"]).toBe(String(Code.DeadlineExceeded));
    expect(grpcReason(res.trailers)).toBe("deadline_exceeded");
  });

  it("ends a call without a deadline at the server's maximum", async () => {
    const res = await h2(getSecretPath, { "content-type": "application/grpc" }, framed(request("stuck")));
    expect(res.trailers["grpc-status"]).toBe(String(Code.DeadlineExceeded));
  });

  it("answers an unknown method with grpc-status 12 in trailers, HTTP 200", async () => {
    const res = await h2("/scaivault.v1.NoSuchService/Get", { "content-type": "application/grpc" }, framed(Buffer.alloc(0)));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/grpc");
    expect(res.trailers["grpc-status"]).toBe(String(Code.Unimplemented));
    expect(grpcReason(res.trailers)).toBe("unimplemented");

    const client = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest("/scaivault.v1.SecretsService/NoSuchMethod", (m: Buffer) => m, (b: Buffer) => b, Buffer.alloc(0), (e) => resolve(e!)),
    );
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    client.close();
  });
});

describe("gRPC-web", () => {
  const web = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };

  it.each(["gzip", "br"] as const)("reads a %s-compressed request", async (encoding) => {
    const res = await h1(getSecretPath, { ...web, "grpc-encoding": encoding }, framed(compressors[encoding](request("db/main")), 1));
    expect(grpcWebTrailers(res.body)["grpc-status"]).toBe("0");
    expect(fromBinary(SecretSchema, frames(res.body)[0]!.data)).toMatchObject({ path: "db/main", version: 3 });
  });

  it("compresses a large response when the client accepts gzip", async () => {
    const res = await h1(getSecretPath, { ...web, "grpc-accept-encoding": "gzip" }, framed(request("large")));
    expect(res.headers["grpc-encoding"]).toBe("gzip");
    const [reply] = frames(res.body);
    expect(reply!.flags & 1).toBe(1);
    expect(fromBinary(SecretSchema, zlib.gunzipSync(reply!.data)).data?.blob).toHaveLength(4096);
  });

  it("refuses a gzip bomb with RESOURCE_EXHAUSTED", async () => {
    const res = await h1(getSecretPath, { ...web, "grpc-encoding": "gzip" }, framed(await gzipBomb(), 1));
    const status = res.headers["grpc-status"] ?? grpcWebTrailers(res.body)["grpc-status"];
    expect(status).toBe(String(Code.ResourceExhausted));
  }, 60_000);

  it("ends the call with DEADLINE_EXCEEDED from the server at the client's grpc-timeout", async () => {
    const res = await h1(getSecretPath, { ...web, "grpc-timeout": "200m" }, framed(request("stuck")));
    expect(res.status).toBe(200);
    expect(res.headers["grpc-status"] ?? grpcWebTrailers(res.body)["grpc-status"]).toBe(String(Code.DeadlineExceeded));
  });

  it("answers an unknown method with grpc-status 12, HTTP 200", async () => {
    const res = await h1("/scaivault.v1.NoSuchService/Get", web, framed(Buffer.alloc(0)));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/grpc-web+proto");
    expect(res.headers["grpc-status"]).toBe(String(Code.Unimplemented));
    const err = await failureOf(createClient(AuditService, createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" })).listAuditEvents({}));
    expect(err?.code).toBe(Code.Unimplemented);
  });
});

describe("Connect", () => {
  const json = { "content-type": "application/json", "connect-protocol-version": "1" };
  const body = (path: string) => Buffer.from(JSON.stringify({ path }));

  it.each(["gzip", "br"] as const)("reads a %s-compressed request", async (encoding) => {
    const res = await h1(getSecretPath, { ...json, "content-encoding": encoding }, compressors[encoding](body("db/main")));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ path: "db/main", version: 3 });
  });

  it("compresses a large response when the client accepts gzip", async () => {
    const res = await h1(getSecretPath, { ...json, "accept-encoding": "gzip" }, body("large"));
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect(res.body.length).toBeLessThan(4096);
    expect(JSON.parse(zlib.gunzipSync(res.body).toString()).data.blob).toHaveLength(4096);
  });

  it("refuses a gzip bomb with resource_exhausted", async () => {
    const res = await h1(getSecretPath, { ...json, "content-encoding": "gzip" }, await gzipBomb());
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: "resource_exhausted" });
  }, 60_000);

  it("ends the call with deadline_exceeded from the server at connect-timeout-ms", async () => {
    const res = await h1(getSecretPath, { ...json, "connect-timeout-ms": "200" }, body("stuck"));
    expect(res.status).toBe(504);
    const error = JSON.parse(res.body.toString());
    expect(error.code).toBe("deadline_exceeded");
  });

  it("answers an unknown method as unimplemented", async () => {
    const err = await failureOf(createClient(AuditService, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" })).listAuditEvents({}));
    expect(err?.code).toBe(Code.Unimplemented);
  });

  it("round-trips gzip both ways with Connect's own client, binary over h2c", async () => {
    const transport = createConnectTransport({
      baseUrl: s.baseUrl,
      httpVersion: "2",
      useBinaryFormat: true,
      sendCompression: compressionGzip,
      acceptCompression: [compressionGzip],
      compressMinBytes: 0,
    });
    expect((await createClient(SecretsService, transport).getSecret({ path: "large" })).data?.blob).toHaveLength(4096);
  });
});

describe("REST", () => {
  it("reads a gzip-compressed JSON body and refuses a gzip bomb with 413", async () => {
    const put = { "content-type": "application/json", "content-encoding": "gzip" };
    const ok = await new Promise<number>((resolve, reject) => {
      const body = zlib.gzipSync(JSON.stringify({ data: { k: "v" } }));
      const req = http.request(`${s.baseUrl}/v1/secrets/zipped/one`, { method: "PUT", agent: false, headers: { ...put, "content-length": String(body.length) } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end(body);
    });
    expect(ok).toBe(201);
    const bomb = await gzipBomb();
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${s.baseUrl}/v1/secrets/zipped/two`, { method: "PUT", agent: false, headers: { ...put, "content-length": String(bomb.length) } }, (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on("error", reject);
      req.end(bomb);
    });
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body).error.code).toBe("payload_too_large");
  }, 60_000);

  it("ends a call at the server's maximum with 504 deadline_exceeded", async () => {
    const res = await fetch(`${s.baseUrl}/v1/secrets/stuck`);
    expect(res.status).toBe(504);
    expect((await res.json()).error.code).toBe("deadline_exceeded");
  });
});

describe("error details for generic tools", () => {
  const protocols: [string, string[]][] = [
    ["grpc", ["--protocol", "grpc", "--http2-prior-knowledge"]],
    ["grpcweb", ["--protocol", "grpcweb"]],
    ["connect", ["--protocol", "connect"]],
  ];

  const serverRequestId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  it.each(protocols)("buf curl --protocol %s prints the ErrorInfo: reason, domain and request_id", async (name, flags) => {
    const requestId = `buf-curl-${name}`;
    const err = await promisify(execFile)(bufBin, ["curl", ...flags, "--reflect", "-H", `x-request-id: ${requestId}`, "-d", '{"path":"nope"}', `${s.baseUrl}${getSecretPath}`]).then(
      () => undefined,
      (e: { stderr: string }) => e,
    );
    expect(err).toBeDefined();
    const printed = JSON.parse(err!.stderr.slice(err!.stderr.indexOf("{")));
    expect(printed).toMatchObject({ code: "not_found", message: "secret not found" });
    expect(printed.details).toHaveLength(1);
    expect(printed.details[0].type).toBe("google.rpc.ErrorInfo");
    const info = fromBinary(ErrorInfoSchema, Buffer.from(printed.details[0].value, "base64"));
    // The request id is always the server's own (a client's x-request-id is only kept for correlation).
    expect(info).toMatchObject({ reason: "secret_not_found", domain: "scaivault.v1", metadata: { request_id: expect.stringMatching(serverRequestId) } });
    expect(info.metadata.request_id).not.toBe(requestId);
    // buf curl decodes details only with types compiled into it; Connect's JSON error carries them decoded.
    if (name === "connect") expect(printed.details[0].debug).toEqual({ reason: "secret_not_found", domain: "scaivault.v1", metadata: { request_id: info.metadata.request_id } });
  });

  it("reflection resolves google.rpc.ErrorInfo and google.rpc.Status, as grpcurl asks to decode details", async () => {
    const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl: s.baseUrl }));
    async function* requests() {
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "google.rpc.ErrorInfo" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "google.rpc.Status" } };
    }
    const files: string[] = [];
    for await (const res of reflection.serverReflectionInfo(requests())) {
      if (res.messageResponse.case !== "fileDescriptorResponse") throw new Error(`unexpected reflection answer ${res.messageResponse.case}`);
      files.push(fromBinary(FileDescriptorProtoSchema, res.messageResponse.value.fileDescriptorProto[0]!).name);
    }
    expect(files).toEqual(["google/rpc/error_details.proto", "google/rpc/status.proto"]);
  });

  it("Connect clients read the same ErrorInfo", async () => {
    const transports: Transport[] = [
      createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }),
      createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }),
      createGrpcTransport({ baseUrl: s.baseUrl }),
    ];
    const infos = await Promise.all(
      transports.map(async (t) => (await failureOf(createClient(SecretsService, t).getSecret({ path: "nope" }, { headers: { "x-request-id": "same-id" } })))?.findDetails(ErrorInfoSchema)[0]),
    );
    expect(infos.map((i) => i?.reason)).toEqual(["secret_not_found", "secret_not_found", "secret_not_found"]);
    // Each call gets its own server-made id, whatever id the client sent.
    const ids = infos.map((i) => i?.metadata.request_id ?? "");
    for (const id of ids) expect(id).toMatch(serverRequestId);
    expect(new Set(ids).size).toBe(3);
  });
});

describe("headers a client got wrong are named, never quoted", () => {
  const canary = "canary-h3ad3r-7f2c";
  const web = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
  const seen = (res: Exchange) => JSON.stringify(res.headers) + JSON.stringify(res.trailers) + res.body.toString("latin1");

  it("an unknown grpc-encoding is UNIMPLEMENTED naming the header on gRPC and gRPC-web", async () => {
    const grpcRes = await h2(getSecretPath, { "content-type": "application/grpc", "grpc-encoding": canary }, framed(request("db/main"), 1));
    const grpcStatus = grpcRes.trailers["grpc-status"] ?? grpcRes.headers["grpc-status"];
    expect(grpcStatus).toBe(String(Code.Unimplemented));
    expect(String(grpcRes.trailers["grpc-message"] ?? grpcRes.headers["grpc-message"])).toContain("grpc-encoding");
    expect(seen(grpcRes)).not.toContain(canary);
    const webRes = await h1(getSecretPath, { ...web, "grpc-encoding": canary }, framed(request("db/main"), 1));
    const trailers = { ...webRes.headers, ...grpcWebTrailers(webRes.body) } as Record<string, unknown>;
    expect(String(trailers["grpc-status"])).toBe(String(Code.Unimplemented));
    expect(seen(webRes)).not.toContain(canary);
  });

  it("an unknown content-encoding on Connect is unimplemented naming the header", async () => {
    const res = await h1(getSecretPath, { "content-type": "application/proto", "content-encoding": canary }, request("db/main"));
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: "unimplemented" });
    expect(res.body.toString()).toContain("content-encoding");
    expect(seen(res)).not.toContain(canary);
  });

  it("a malformed deadline counts as none: the call is served within the server's maximum", async () => {
    const grpcRes = await h2(getSecretPath, { "content-type": "application/grpc", "grpc-timeout": canary }, framed(request("db/main")));
    expect(grpcRes.trailers["grpc-status"] ?? grpcRes.headers["grpc-status"]).toBe("0");
    expect(seen(grpcRes)).not.toContain(canary);
    const webRes = await h1(getSecretPath, { ...web, "grpc-timeout": canary }, framed(request("db/main")));
    expect(grpcWebTrailers(webRes.body)["grpc-status"]).toBe("0");
    const connectRes = await h1(getSecretPath, { "content-type": "application/proto", "connect-timeout-ms": canary }, request("db/main"));
    expect(connectRes.status).toBe(200);
    expect(seen(connectRes)).not.toContain(canary);
  });
});
