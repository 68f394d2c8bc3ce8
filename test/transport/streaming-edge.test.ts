import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";
import { rawRequest } from "../reliability/raw-http.js";
import { grpcWatch } from "../support/watchers.js";

// Malformed request messages on streaming calls, sent over raw HTTP/2 and HTTP/1.1 so that no
// client library tidies them up first, and a client cancelling a watch.

const canary = "CANARY_stream_5e1d";

/** One gRPC message frame: the flags byte, the length, the message. */
function frame(flags: number, message: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(5 + message.length);
  bytes[0] = flags;
  new DataView(bytes.buffer).setUint32(1, message.length);
  bytes.set(message, 5);
  return bytes;
}

const text = (s: string) => new TextEncoder().encode(s);
/** Bodies a fuzzer sends: not protobuf, a compressed flag without grpc-encoding, a cut-off frame, bytes carrying the canary. */
const badProtobuf: [string, Uint8Array][] = [
  ["not protobuf", frame(0, new Uint8Array([0x0a, 0x7f, 0x61]))],
  ["compressed flag without encoding", frame(1, new Uint8Array([0x0a, 0x00]))],
  ["cut-off frame", new Uint8Array([0, 0, 0, 0, 10, 0x0a])],
  ["canary in a broken message", frame(0, new Uint8Array([0x0a, 0x7f, ...text(canary)]))],
];
/** A JSON message whose field holds the wrong type: a parser would quote it. */
const badJson = frame(0, text(JSON.stringify({ prefix: { [canary]: canary } })));

function h2Call(port: number, path: string, headers: Record<string, string>, body: Uint8Array): Promise<{ status?: number; grpc: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", () => {});
    req.on("close", () => {
      session.close();
      resolve({ status: head[":status"] as number | undefined, grpc: { ...head, ...trailers } });
    });
    req.end(body);
  });
}

describe("streaming calls refuse malformed messages with invalid_argument, never internal", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "edge" });
  });
  afterAll(async () => tv?.close());

  const streams = ["/scaivault.v1.WatchService/WatchSecrets", "/grpc.health.v1.Health/Watch", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"];

  it("answers gRPC (HTTP/2) with grpc-status 3 and the message type, not the content", async () => {
    for (const path of streams) {
      for (const [what, body] of [...badProtobuf, ["empty body", new Uint8Array()] as [string, Uint8Array]]) {
        // A bidi stream with no message is a complete, empty conversation.
        if (what === "empty body" && path.includes("Reflection")) continue;
        const res = await h2Call(tv.port, path, { "content-type": "application/grpc", authorization: `Bearer ${token}` }, body);
        expect({ path, what, status: res.grpc["grpc-status"] }).toEqual({ path, what, status: "3" });
        expect(decodeURIComponent(String(res.grpc["grpc-message"]))).toMatch(/request message/);
        expect(JSON.stringify(res.grpc)).not.toContain(canary);
      }
      const json = await h2Call(tv.port, path, { "content-type": "application/grpc+json", authorization: `Bearer ${token}` }, badJson);
      expect({ path, status: json.grpc["grpc-status"] }).toEqual({ path, status: "3" });
      expect(JSON.stringify(json.grpc)).not.toContain(canary);
      expect(Buffer.from(String(json.grpc["grpc-status-details-bin"]), "base64").toString("latin1")).not.toContain(canary);
    }
  });

  it("answers gRPC-web and Connect streams over HTTP/1.1 with invalid_argument in their end-of-stream", async () => {
    for (const path of streams.slice(0, 2)) {
      for (const [what, body] of badProtobuf) {
        const web = await rawRequest(tv.port, "POST", path, { headers: { "content-type": "application/grpc-web+proto", authorization: `Bearer ${token}` }, body });
        expect(web.status).toBe(200);
        const trailer = String(web.body);
        expect({ path, what, status: /grpc-status: (\d+)/.exec(trailer)?.[1] }).toEqual({ path, what, status: "3" });
        expect(trailer).not.toContain(canary);
        const connect = await rawRequest(tv.port, "POST", path, { headers: { "content-type": "application/connect+proto", authorization: `Bearer ${token}` }, body });
        const end = String(connect.body);
        expect({ path, what, code: /"code":"(\w+)"/.exec(end)?.[1] }).toEqual({ path, what, code: "invalid_argument" });
        expect(end).toContain('"reason":"invalid_request"');
      }
      const json = await rawRequest(tv.port, "POST", path, { headers: { "content-type": "application/connect+json", authorization: `Bearer ${token}` }, body: badJson });
      expect(/"code":"(\w+)"/.exec(String(json.body))?.[1]).toBe("invalid_argument");
      expect(String(json.body)).not.toContain(canary);
    }
    // Bidi streaming needs HTTP/2: over HTTP/1.1 Connect answers 505 itself, before reading anything.
    const bidi = await rawRequest(tv.port, "POST", streams[2]!, { headers: { "content-type": "application/grpc-web+proto" }, body: badProtobuf[0]![1] });
    expect(bidi.status).toBe(505);
  });

  it("logs these calls at info as invalid_request, without a stack, the parser's text or the canary", () => {
    const lines = tv.logs.filter((l) => /WatchSecrets|Health\/Watch|ServerReflectionInfo/.test(l));
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      const entry = JSON.parse(line);
      expect(entry.level).toBe("info");
      expect(["invalid_request", "ok"]).toContain(entry.code);
    }
    const all = tv.logs.join("\n");
    expect(all).not.toContain(canary);
    expect(all).not.toMatch(/"level":"error"/);
    expect(all).not.toContain("parse binary");
    expect(all).not.toContain('"stack"');
  });

  it("logs and counts a gRPC watch the client cancels as canceled, once it ends", async () => {
    const before = tv.logs.length;
    const watcher = grpcWatch(tv.port, token, { prefix: "" });
    await watcher.live;
    watcher.close();
    const ended = () => tv.logs.slice(before).map((l) => JSON.parse(l)).find((e) => e.procedure === "scaivault.v1.WatchService/WatchSecrets" && e.msg === "call");
    for (let i = 0; i < 200 && !ended(); i++) await new Promise((r) => setTimeout(r, 25));
    expect(ended()).toMatchObject({ level: "info", code: "canceled" });
    const metrics = await (await fetch(`${tv.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/scaivault_calls_total\{procedure="scaivault.v1.WatchService\/WatchSecrets",protocol="grpc",code="canceled"\} 1/);
    expect(metrics).not.toMatch(/WatchSecrets",protocol="grpc",code="internal"/);
  });
});
