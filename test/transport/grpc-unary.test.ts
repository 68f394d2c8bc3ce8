import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService, SecretSchema } from "../../gen/scaivault/v1/secrets_pb.js";
import { createLogger } from "../../src/log.js";
import { startServer, type RunningServer } from "../../src/transport/node-server.js";
import { createUniversalApp } from "../../src/transport/universal-app.js";
import { reasonOf } from "../support/grpc.js";

// Plain unary gRPC calls are served without Connect's streaming handler (src/transport/grpc-unary.ts);
// these tests pin down that they still behave as gRPC: interceptors, deadlines, compression, framing errors.

const protoRoot = fileURLToPath(new URL("../../proto", import.meta.url));
const maxBodyBytes = 4096;

/** What the handler saw of each call. */
const seen: { protocol: string; timeoutMs: number | undefined; aborted?: string }[] = [];
const intercepted: string[] = [];

let server: RunningServer;
beforeAll(async () => {
  const recordCalls: Interceptor = (next) => async (req) => {
    intercepted.push(req.method.name);
    return next(req);
  };
  const app = createUniversalApp({
    logger: createLogger({ level: "error" }),
    compression: [compressionGzip, compressionBrotli],
    ready: async () => true,
    maxBodyBytes,
    interceptors: [recordCalls],
    routes: (router) =>
      router.service(SecretsService, {
        async getSecret(req, ctx: HandlerContext) {
          const call: (typeof seen)[number] = { protocol: ctx.protocolName, timeoutMs: ctx.timeoutMs() };
          seen.push(call);
          if (req.path === "wait-for-deadline") {
            // Waits for the call's signal, as a handler doing slow I/O would.
            call.aborted = await new Promise<string>((resolve) => {
              const timer = setTimeout(() => resolve("never"), 3000);
              ctx.signal.addEventListener("abort", () => {
                clearTimeout(timer);
                resolve(String((ctx.signal.reason as Error)?.name ?? ctx.signal.reason));
              });
            });
          }
          return create(SecretSchema, { path: req.path, version: 7, data: { echoed: req.path } });
        },
      }),
  });
  server = await startServer({ app, port: 0, host: "127.0.0.1", logger: createLogger({ level: "error" }) });
});
afterAll(() => server.close());

function client(options: grpc.ChannelOptions = {}) {
  const def = protoLoader.loadSync("scaivault/v1/secrets.proto", { includeDirs: [protoRoot], keepCase: true, defaults: true });
  const Ctor = (grpc.loadPackageDefinition(def) as any).scaivault.v1.SecretsService;
  return new Ctor(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), options);
}

function getSecret(c: any, path: string, deadlineMs = 5000): Promise<any> {
  return new Promise((resolve, reject) =>
    c.GetSecret({ path }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: unknown) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/** A raw HTTP/2 gRPC exchange, to send what no well-behaved client would. */
async function rawGrpc(body: Buffer): Promise<{ status: string | undefined; reason: string | undefined }> {
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": "/scaivault.v1.SecretsService/GetSecret",
        "content-type": "application/grpc",
        te: "trailers",
      });
      let headers: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => (headers = h));
      stream.on("trailers", (trailers) => {
        const all = { ...headers, ...trailers };
        const details = all["grpc-status-details-bin"] as string | undefined;
        resolve({
          status: all["grpc-status"] as string | undefined,
          reason: details ? reasonOf({ metadata: { get: () => [Buffer.from(details, "base64")] } } as never) : undefined,
        });
      });
      stream.on("error", reject);
      stream.resume();
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

function framed(message: Buffer, flags = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

describe("native gRPC unary calls", () => {
  it("run the app's interceptors and reach the handler as gRPC", async () => {
    const c = client();
    const before = intercepted.length;
    const secret = await getSecret(c, "team/db");
    expect(secret).toMatchObject({ path: "team/db", version: 7 });
    expect(secret.data.fields.echoed.stringValue).toBe("team/db");
    expect(intercepted.slice(before)).toEqual(["GetSecret"]);
    expect(seen.at(-1)?.protocol).toBe("grpc");
    c.close();
  });

  it("give the handler the client's deadline, and abort its signal when the deadline passes", async () => {
    const c = client();
    const err = await getSecret(c, "wait-for-deadline", 300).catch((e: grpc.ServiceError) => e);
    expect(err).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    await expect.poll(() => seen.find((s) => s.aborted !== undefined)?.aborted, { timeout: 5000 }).toBeDefined();
    const call = seen.find((s) => s.aborted !== undefined)!;
    expect(call.timeoutMs).toBeGreaterThan(0);
    expect(call.timeoutMs).toBeLessThanOrEqual(300);
    expect(call.aborted).not.toBe("never");
    c.close();
  });

  it("serve gzip-compressed calls themselves, through the same interceptors", async () => {
    const c = client({ "grpc.default_compression_algorithm": 2, "grpc.default_compression_level": 2 }); // gzip
    const before = intercepted.length;
    const secret = await getSecret(c, "compressed/" + "x".repeat(200));
    expect(secret.path).toBe("compressed/" + "x".repeat(200));
    expect(intercepted.slice(before)).toEqual(["GetSecret"]);
    expect(seen.at(-1)?.protocol).toBe("grpc");
    c.close();
  });

  it("refuse a body that is not exactly one message, with the contract's code", async () => {
    const message = Buffer.from([0x0a, 0x02, 0x61, 0x62]); // path: "ab"
    expect(await rawGrpc(Buffer.from([0, 0, 0]))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), reason: "invalid_request" });
    expect(await rawGrpc(Buffer.concat([framed(message), framed(message)]))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), reason: "invalid_request" });
    expect(await rawGrpc(framed(message, 1))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), reason: "invalid_request" });
    expect(await rawGrpc(framed(Buffer.from([0xff, 0xff])))).toEqual({ status: String(grpc.status.INVALID_ARGUMENT), reason: "invalid_request" });
    expect(await rawGrpc(framed(message))).toEqual({ status: "0", reason: undefined });
  });

  it("refuse a message over the size limit", async () => {
    const path = Buffer.alloc(maxBodyBytes + 10, "a");
    const message = Buffer.concat([Buffer.from([0x0a, 0x8a, 0x20]), path.subarray(0, 0x100a)]); // field 1, length 4106
    expect(await rawGrpc(framed(message))).toEqual({ status: String(grpc.status.RESOURCE_EXHAUSTED), reason: "payload_too_large" });
  });
});
