// Watch-stream clients for tests, one per protocol, each independent of the service's code:
// gRPC through @grpc/grpc-js with the .proto files, Connect through connect-node, SSE through fetch.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { fileURLToPath } from "node:url";
import { WatchService } from "../../gen/scaivault/v1/watch_pb.js";

const protoRoot = fileURLToPath(new URL("../../proto", import.meta.url));

/** One stream message as the test reads it (snake_case, as on the wire in JSON). */
export interface SeenEvent {
  event_id: string;
  event_type: string;
  path: string;
  version: number;
  stage: string;
  created_at?: string;
  /** Milliseconds (performance.now) when it arrived. */
  receivedAt: number;
}

/** A running watch: what arrived so far, a way to wait for more, and its end. */
export interface Watcher {
  /** Changes received (heartbeats left out). */
  events: SeenEvent[];
  heartbeats: number;
  /** Resolves when the stream is live (its first message, a heartbeat, arrived). */
  live: Promise<void>;
  /** Resolves with the error code the stream ended with ("" for a clean end). */
  ended: Promise<string>;
  /** Waits until `count` changes have arrived; rejects after `timeoutMs` or if the stream ended first. */
  waitFor(count: number, timeoutMs?: number): Promise<SeenEvent[]>;
  close(): void;
}

function createWatcher(): Watcher & { add(e: Omit<SeenEvent, "receivedAt">): void; end(code: string): void } {
  const events: SeenEvent[] = [];
  const waiters = new Set<() => void>();
  let markLive!: () => void;
  let markEnded!: (code: string) => void;
  let endedCode: string | undefined;
  const w = {
    events,
    heartbeats: 0,
    live: new Promise<void>((r) => (markLive = r)),
    ended: new Promise<string>((r) => (markEnded = r)),
    close: () => undefined as void,
    add(e: Omit<SeenEvent, "receivedAt">) {
      if (!e.event_id) {
        w.heartbeats++;
        markLive();
      } else {
        events.push({ ...e, receivedAt: performance.now() });
      }
      for (const wake of waiters) wake();
    },
    end(code: string) {
      endedCode ??= code;
      markLive();
      markEnded(code);
      for (const wake of waiters) wake();
    },
    waitFor(count: number, timeoutMs = 15_000) {
      return new Promise<SeenEvent[]>((resolve, reject) => {
        const check = () => {
          if (events.length >= count) {
            done();
            resolve(events.slice(0, count));
          } else if (endedCode !== undefined) {
            done();
            reject(new Error(`stream ended (${endedCode || "ok"}) after ${events.length} of ${count} events`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`only ${events.length} of ${count} events after ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
  return w;
}

/** Watches over native gRPC with @grpc/grpc-js. */
export function grpcWatch(port: number, token: string, request: { prefix: string; cursor?: string }): Watcher {
  const def = protoLoader.loadSync("scaivault/v1/watch.proto", { includeDirs: [protoRoot], keepCase: true, longs: Number, defaults: true });
  const Ctor = (grpc.loadPackageDefinition(def) as any).scaivault.v1.WatchService;
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  const w = createWatcher();
  const call = client.WatchSecrets(request, md) as grpc.ClientReadableStream<any>;
  call.on("data", (m: any) => w.add({ ...m, created_at: m.created_at ? new Date(Number(m.created_at.seconds) * 1000).toISOString() : undefined }));
  call.on("error", (err: grpc.ServiceError) => w.end(err.code === grpc.status.CANCELLED ? "" : grpc.status[err.code]));
  call.on("end", () => w.end(""));
  w.close = () => {
    call.cancel();
    client.close();
  };
  return w;
}

/** Watches over the Connect protocol with connect-node (HTTP/1.1, JSON), or over gRPC-web (binary). */
export function connectWatch(baseUrl: string, token: string, request: { prefix: string; cursor?: string }, protocol: "connect" | "grpc-web" = "connect"): Watcher {
  const transport =
    protocol === "grpc-web"
      ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })
      : createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false });
  const client = createClient(WatchService, transport);
  const abort = new AbortController();
  const w = createWatcher();
  void (async () => {
    try {
      for await (const m of client.watchSecrets(request, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal })) {
        w.add({ event_id: m.eventId, event_type: m.eventType, path: m.path, version: m.version, stage: m.stage });
      }
      w.end("");
    } catch (err: any) {
      w.end(abort.signal.aborted ? "" : String(err?.code ?? "unknown"));
    }
  })();
  w.close = () => abort.abort();
  return w;
}

/** Watches over REST Server-Sent Events with fetch; `lastEventId` sends Last-Event-ID. Error frames end it with their code. */
export function sseWatch(baseUrl: string, token: string | undefined, options: { prefix: string; lastEventId?: string; query?: string }): Watcher & { status: Promise<number>; errorBody: Promise<any> } {
  const abort = new AbortController();
  const w = createWatcher();
  let setStatus!: (s: number) => void;
  let setErrorBody!: (b: any) => void;
  const status = new Promise<number>((r) => (setStatus = r));
  const errorBody = new Promise<any>((r) => (setErrorBody = r));
  void (async () => {
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      if (token) headers.authorization = `Bearer ${token}`;
      if (options.lastEventId) headers["last-event-id"] = options.lastEventId;
      const res = await fetch(`${baseUrl}/v1/watch?prefix=${encodeURIComponent(options.prefix)}${options.query ?? ""}`, { headers, signal: abort.signal });
      setStatus(res.status);
      if (res.status !== 200) {
        const body = await res.json();
        setErrorBody(body);
        w.end(body?.error?.code ?? String(res.status));
        return;
      }
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const lines = frame.split("\n");
          if (lines.every((l) => l.startsWith(":"))) {
            w.add({ event_id: "", event_type: "heartbeat", path: "", version: 0, stage: "" });
            continue;
          }
          const type = lines.find((l) => l.startsWith("event: "))?.slice(7);
          const data = JSON.parse(lines.find((l) => l.startsWith("data: "))!.slice(6));
          if (type === "error") {
            setErrorBody(data);
            w.end(data.error.code);
            return;
          }
          const id = lines.find((l) => l.startsWith("id: "))?.slice(4);
          if (id !== data.event_id) throw new Error(`SSE id ${id} differs from event_id ${data.event_id}`);
          w.add(data);
        }
      }
      w.end("");
    } catch (err) {
      w.end(abort.signal.aborted ? "" : `error: ${(err as Error).message}`);
    }
  })();
  w.close = () => abort.abort();
  return Object.assign(w, { status, errorBody });
}
