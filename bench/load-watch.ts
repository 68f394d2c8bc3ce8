/**
 * Watch load in its own process: opens N WatchSecrets streams over @grpc/grpc-js (spread over 10
 * HTTP/2 connections), prints {"phase":"live"} once every stream has had its first heartbeat,
 * holds them for `holdSeconds` (the bench samples the service's memory then), writes one secret
 * through REST and measures how long it takes to reach every watcher; prints the result and exits.
 * argv: port token watchers holdSeconds
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const [port, token, watchers, holdSeconds] = process.argv.slice(2);
const count = Number(watchers);
const def = protoLoader.loadSync("scaivault/v1/watch.proto", { includeDirs: [fileURLToPath(new URL("../proto", import.meta.url))], keepCase: true, defaults: true });
const Watch = (grpc.loadPackageDefinition(def) as any).scaivault.v1.WatchService;
const md = new grpc.Metadata();
md.set("authorization", `Bearer ${token}`);
const clients = Array.from({ length: 10 }, () => new Watch(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));

let live = 0;
let errors = 0;
let writtenAt = 0;
const latencies: number[] = [];
let allLive!: () => void;
let allSeen!: () => void;
const livePromise = new Promise<void>((r) => (allLive = r));
const seenPromise = new Promise<void>((r) => (allSeen = r));
const calls = Array.from({ length: count }, (_, i) => {
  const call = clients[i % clients.length]!.WatchSecrets({ prefix: "watch-bench/" }, md);
  let first = true;
  call.on("data", (m: any) => {
    if (first) {
      first = false;
      if (++live === count) allLive();
    }
    if (m.event_id && writtenAt > 0) {
      latencies.push(performance.now() - writtenAt);
      if (latencies.length === count) allSeen();
    }
  });
  call.on("error", (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) errors++;
  });
  return call;
});

await livePromise;
process.stdout.write(JSON.stringify({ phase: "live", live }) + "\n");
await new Promise((r) => setTimeout(r, Number(holdSeconds) * 1000));
writtenAt = performance.now();
const res = await fetch(`http://127.0.0.1:${port}/v1/secrets/watch-bench/key`, {
  method: "PUT",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  body: JSON.stringify({ data: { password: "bench" } }),
});
if (!res.ok) throw new Error(`write failed: ${res.status}`);
await Promise.race([seenPromise, new Promise((r) => setTimeout(r, 30_000))]);
for (const c of calls) c.cancel();
for (const c of clients) c.close();
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
process.stdout.write(JSON.stringify({ phase: "done", live, received: latencies.length, p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1] ?? 0, errors }) + "\n");
