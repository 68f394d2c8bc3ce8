/**
 * gRPC load generator in its own process: GetSecret from @grpc/grpc-js over `connections`
 * HTTP/2 connections, one call in flight each, for D seconds; prints {rps, p50, p99, errors}.
 * argv: port token paths-file connections seconds [put]
 * With `put`, each call is a PutSecret of a new version instead.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const [port, token, pathsFile, connections, seconds, mode] = process.argv.slice(2);
const data = { fields: { username: { stringValue: "svc" }, password: { stringValue: "rotated-by-bench" } } };
const paths = readFileSync(pathsFile!, "utf8").split("\n").filter(Boolean).map((p) => decodeURIComponent(p.slice("/v1/secrets/".length)));
const def = protoLoader.loadSync("scaivault/v1/secrets.proto", { includeDirs: [fileURLToPath(new URL("../proto", import.meta.url))], keepCase: true });
const Secrets = (grpc.loadPackageDefinition(def) as any).scaivault.v1.SecretsService;
const md = new grpc.Metadata();
md.set("authorization", `Bearer ${token}`);

const latencies: number[] = [];
let errors = 0;
const until = Date.now() + Number(seconds) * 1000;
await Promise.all(
  Array.from({ length: Number(connections) }, async () => {
    // One connection each: a separate subchannel pool keeps channels from sharing a connection.
    const client = new Secrets(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, ...JSON.parse(process.env.GRPC_OPTS ?? "{}") });
    while (Date.now() < until) {
      const path = paths[Math.floor(Math.random() * paths.length)];
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        const done = (err: unknown) => {
          if (err) errors++;
          else latencies.push(performance.now() - t0);
          resolve();
        };
        if (mode === "put") client.PutSecret({ path, data }, md, done);
        else client.GetSecret({ path }, md, done);
      });
    }
    client.close();
  }),
);
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
process.stdout.write(JSON.stringify({ rps: latencies.length / Number(seconds), total: latencies.length, p50: q(0.5), p99: q(0.99), errors }) + "\n");
