import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/transport/node-server.js";
import { createLogger } from "../../src/log.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { grpcClient } from "../support/grpc.js";
import { grpcWatch } from "../support/watchers.js";
import * as grpc from "@grpc/grpc-js";

// Connections a client holds without using them are bounded: request and idle timeouts, caps
// per client address, and methods no route takes answered instead of dropped. The service under
// test is the real app, served a second time with tight limits so each bound shows in seconds.

/** Sends `request` on a new connection and resolves what came back and how the connection ended. */
function exchange(port: number, request: string): Promise<{ text: string; reset: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    let reset = false;
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("error", () => (reset = true));
    socket.on("close", () => resolve({ text, reset }));
    socket.write(request);
  });
}

/** Writes `head` at once, then `rest` one byte every 50 ms; resolves what came back once the server closes. */
function dripping(port: number, head: string, rest: string): Promise<{ text: string; sent: number }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    let sent = 0;
    socket.write(head);
    const drip = setInterval(() => {
      if (sent < rest.length && !socket.destroyed) socket.write(rest[sent++]!);
    }, 50);
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(drip);
      resolve({ text, sent });
    });
  });
}

describe("bounded connections", () => {
  let tv: TestVault;
  let server: RunningServer;
  let token: string;
  const logs: string[] = [];
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_WATCH_HEARTBEAT: "1s" } });
    token = await tv.token({ tenantId: "limits" });
    server = await startServer({
      app: tv.vault.app,
      port: 0,
      host: "127.0.0.1",
      logger: createLogger({ level: "debug", write: (l) => logs.push(l) }),
      headersTimeoutMs: 1_000,
      connections: { requestTimeoutMs: 1_500, http2IdleTimeoutMs: 700, max: 1_000, maxPerIp: 4 },
    });
  });
  afterAll(async () => {
    await server?.close();
    await tv?.close();
  });

  it("answers CONNECT with 405 and an unknown method with 501, in the contract's JSON, and closes cleanly", async () => {
    const connect = await exchange(server.port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    expect(connect.text).toMatch(/^HTTP\/1\.1 405 /);
    expect(JSON.parse(connect.text.slice(connect.text.indexOf("\r\n\r\n") + 4)).error.code).toBe("method_not_allowed");
    expect(connect.reset).toBe(false);
    const unknown = await exchange(server.port, "BREW /pot-CANARY_method HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(unknown.text).toMatch(/^HTTP\/1\.1 501 /);
    const body = JSON.parse(unknown.text.slice(unknown.text.indexOf("\r\n\r\n") + 4));
    expect(body.error.code).toBe("unimplemented");
    expect(unknown.text).not.toContain("CANARY");
    expect(unknown.reset).toBe(false);
    // The service goes on serving on new connections.
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
  });

  it("answers an HTTP/2 CONNECT without closing the session", async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    const status = await new Promise<number | undefined>((resolve) => {
      const req = session.request({ ":method": "CONNECT", ":authority": "example.com:443" });
      req.on("response", (h) => resolve(h[":status"]));
      req.on("error", () => resolve(undefined));
      req.on("close", () => resolve(undefined));
    });
    expect([405, 501]).toContain(status);
    const again = await new Promise<number | undefined>((resolve) => {
      const req = session.request({ ":path": "/healthz" });
      req.on("response", (h) => resolve(h[":status"]));
      req.on("error", () => resolve(undefined));
      req.end();
    });
    session.close();
    expect(again).toBe(200);
  });

  it("cuts a client sending its headers slowly with 408 within the header timeout", async () => {
    const slow = await dripping(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + "a".repeat(1_000));
    expect(slow.text === "" || slow.text.startsWith("HTTP/1.1 408")).toBe(true);
    // 20 bytes a second: cut after about 20, long before the headers could be complete.
    expect(slow.sent).toBeLessThan(60);
  });

  it("cuts an HTTP/1.1 body that arrives too slowly with 408", async () => {
    const slow = await dripping(server.port, `PUT /v1/secrets/app/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`, "x".repeat(1_000));
    expect(slow.text).toMatch(/^HTTP\/1\.1 408/);
    expect(slow.sent).toBeLessThan(1_000);
  });

  it("resets an HTTP/2 stream whose request body does not end in time, and keeps the session", async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    const req = session.request({ ":method": "POST", ":path": "/scaivault.v1.SecretsService/GetSecret", "content-type": "application/grpc", te: "trailers" });
    req.write(new Uint8Array([0, 0, 0, 0, 20, 0x0a]));
    const rst = await new Promise<number>((resolve) => {
      req.on("close", () => resolve(req.rstCode ?? -1));
      req.on("error", () => {});
      req.on("data", () => {});
    });
    expect(rst).toBe(http2.constants.NGHTTP2_CANCEL);
    const again = await new Promise<number | undefined>((resolve) => {
      const r = session.request({ ":path": "/healthz" });
      r.on("response", (h) => resolve(h[":status"]));
      r.end();
    });
    session.close();
    expect(again).toBe(200);
  });

  it("closes an HTTP/2 session without streams after the idle timeout, but never one with a watch open", async () => {
    const idle = http2.connect(`http://127.0.0.1:${server.port}`);
    idle.on("error", () => {});
    const goaway = new Promise<void>((resolve) => idle.once("goaway", () => resolve()));
    const closed = new Promise<void>((resolve) => idle.once("close", () => resolve()));
    await goaway;
    await closed;

    const watcher = grpcWatch(server.port, token, { prefix: "" });
    await watcher.live;
    // Several idle timeouts: heartbeats arrive and the stream stays open.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(watcher.heartbeats).toBeGreaterThanOrEqual(2);
    let ended = false;
    void watcher.ended.then(() => (ended = true));
    await new Promise((r) => setImmediate(r));
    expect(ended).toBe(false);
    watcher.close();
  });

  it("closes connections over the per-address cap as they arrive, and takes new ones once others closed", async () => {
    const open: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = net.connect(server.port, "127.0.0.1");
      s.on("error", () => {});
      await new Promise((r) => s.once("connect", r));
      open.push(s);
    }
    await new Promise((r) => setTimeout(r, 100));
    const over = await exchange(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(over.text).toBe("");
    for (const s of open) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const after = await exchange(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(after.text).toMatch(/^HTTP\/1\.1 200/);
  });

  // On the service's own server (default limits): with a 1.5 s request timeout, a 2 MiB body among
  // twenty on two shared cores may not arrive in time and is reset instead.
  it("answers each of many oversized gRPC messages on one busy HTTP/2 session RESOURCE_EXHAUSTED, the others as usual", async () => {
    const client = grpcClient(tv.port, "SecretsService", "secrets.proto");
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    const big = "x".repeat(2 * 1024 * 1024);
    try {
      const codes = await Promise.all(
        Array.from({ length: 20 }, (_, i) => new Promise<number>((resolve) => client.GetSecret({ path: i % 2 ? big : "app/none" }, md, (err: grpc.ServiceError | null) => resolve(err?.code ?? 0)))),
      );
      expect(codes.filter((c, i) => i % 2 === 1 && c === grpc.status.RESOURCE_EXHAUSTED)).toHaveLength(10);
      expect(codes.filter((c, i) => i % 2 === 0 && c === grpc.status.NOT_FOUND)).toHaveLength(10);
    } finally {
      client.close();
    }
  });
});
