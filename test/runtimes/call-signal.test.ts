// A call's abort signal means the same under every runtime: "the client went away" (Canceled)
// when the client leaves mid-call, and nothing but "the call ended" once it is answered, as
// Connect's own handlers do (Node's adapter and Deno's legacy Deno.serve abort their own request
// signals after a success; that must never reach the call as a cancellation).
import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../src/log.js";
import { startServer, type RunningServer } from "../../src/transport/node-server.js";
import { createSignalProbe, type SignalReport } from "./fixtures/signal-probe.js";
import { spawnRuntime, type RuntimeProcess } from "./runtime-process.js";

const probeFile = "test/runtimes/fixtures/signal-probe.ts";

const runtimes = [
  { name: "Node", start: startNodeProbe, runtimeSignal: "quiet" },
  { name: "Deno, legacy request.signal", start: () => spawnRuntime("deno", ["run", "--allow-all", probeFile, "deno"], {}, "probe listening"), runtimeSignal: "aborts after success" },
  { name: "Deno --unstable-no-legacy-abort", start: () => spawnRuntime("deno", ["run", "--allow-all", "--unstable-no-legacy-abort", probeFile, "deno"], {}, "probe listening"), runtimeSignal: "quiet" },
  { name: "Bun", start: () => spawnRuntime("bun", ["run", probeFile, "bun"], {}, "probe listening"), runtimeSignal: "quiet" },
] as const;

async function startNodeProbe(): Promise<Pick<RuntimeProcess, "baseUrl" | "stop">> {
  const server: RunningServer = await startServer({ app: createSignalProbe(), port: 0, host: "127.0.0.1", logger: createLogger({ level: "error" }) });
  return { baseUrl: `http://127.0.0.1:${server.port}`, stop: async () => (await server.close(), 0) };
}

describe.each(runtimes)("the call's abort signal under $name", ({ start, runtimeSignal }) => {
  let probe: Pick<RuntimeProcess, "baseUrl" | "stop">;
  const report = async (id: string): Promise<SignalReport> => {
    const res = await fetch(`${probe.baseUrl}/v1/secrets/report/${id}`);
    return JSON.parse(((await res.json()) as { path: string }).path) as SignalReport;
  };
  beforeAll(async () => {
    probe = await start();
  });
  afterAll(async () => {
    await probe?.stop("SIGKILL");
  });

  it("stays quiet after a successful answer", async () => {
    const res = await fetch(`${probe.baseUrl}/v1/secrets/quick/q1`);
    expect(res.status).toBe(200);
    await res.text();
    if (runtimeSignal === "aborts after success") {
      // The runtime did abort its own signal (the case this guards against)...
      await vi.waitFor(async () => expect((await report("q1")).runtimeAborted).toBe(true), { timeout: 10_000, interval: 50 });
    }
    const after = await report("q1");
    if (runtimeSignal === "quiet") expect(after.runtimeAborted).toBe(false);
    // ...and the call's signal did not follow it: at most the invoker ended the finished call.
    expect(after.holding).toBe(false);
    if (after.callAborted) expect(after).toMatchObject({ callCode: Code.Canceled, callReason: "the call ended" });
  });

  it("aborts with Canceled when the client goes away mid-call", async () => {
    const client = new AbortController();
    const pending = fetch(`${probe.baseUrl}/v1/secrets/hold/h1`, { signal: client.signal }).catch((err: unknown) => err);
    await vi.waitFor(async () => expect((await report("h1")).holding).toBe(true), { timeout: 20_000, interval: 50 });
    client.abort();
    expect(await pending).toBeInstanceOf(Error);
    await vi.waitFor(async () => expect(await report("h1")).toMatchObject({ callAborted: true, callCode: Code.Canceled, callReason: "the client went away" }), { timeout: 20_000, interval: 100 });
  });
});

describe("the call's abort signal over HTTP/2 under Node", () => {
  let probe: Pick<RuntimeProcess, "baseUrl" | "stop">;
  let session: http2.ClientHttp2Session;
  const report = async (id: string): Promise<SignalReport> => {
    const res = await fetch(`${probe.baseUrl}/v1/secrets/report/${id}`);
    return JSON.parse(((await res.json()) as { path: string }).path) as SignalReport;
  };
  beforeAll(async () => {
    probe = await startNodeProbe();
    session = http2.connect(probe.baseUrl);
  });
  afterAll(async () => {
    session?.close();
    await probe?.stop("SIGKILL");
  });

  it("stays quiet after a successful answer", async () => {
    const stream = session.request({ ":path": "/v1/secrets/quick/h2q" });
    const status = await new Promise<number>((resolve) => stream.once("response", (headers) => resolve(Number(headers[":status"]))));
    stream.resume();
    await new Promise((resolve) => stream.once("close", resolve));
    expect(status).toBe(200);
    // The stream has closed on both sides; the call's signal saw at most the invoker's own end,
    // and connect-node's own signal was not aborted by the close of an answered stream (that
    // abort builds a DOMException, a measurable share of a gRPC call's CPU).
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = await report("h2q");
    expect(after.runtimeAborted).toBe(false);
    if (after.callAborted) expect(after).toMatchObject({ callCode: Code.Canceled, callReason: "the call ended" });
  });

  it("aborts with Canceled when the client resets the stream mid-call", async () => {
    const stream = session.request({ ":path": "/v1/secrets/hold/h2h" });
    stream.on("error", () => {});
    await vi.waitFor(async () => expect((await report("h2h")).holding).toBe(true), { timeout: 20_000, interval: 50 });
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await vi.waitFor(async () => expect(await report("h2h")).toMatchObject({ callAborted: true, callCode: Code.Canceled, callReason: "the client went away" }), { timeout: 20_000, interval: 100 });
  });
});
