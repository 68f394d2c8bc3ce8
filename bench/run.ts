/**
 * `npm run bench`: starts PostgreSQL-backed ScaiVault and the bare-stack floor side by side, seeds
 * data, drives load from separate processes, and prints one table (also bench/results/latest.md).
 * Figures are meant to be read as ratios within one run on one machine.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, writeFile, mkdir } from "node:fs/promises";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { GetSecretRequestSchema } from "../gen/scaivault/v1/secrets_pb.js";
import { cpuSecondsOf, freePort, grpcFramed, hasH2load, inBatches, nodeBinaryOf, postgresCpu, root, serverNode, startFlags, testedNodeReleases, waitReady } from "./bench-support.js";
import { mintToken } from "../src/auth/mint-token.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const secretsCount = Number(process.env.BENCH_SECRETS ?? 10_000);
const listRows = Number(process.env.BENCH_LIST_ROWS ?? 1_000_000);
/** Due assignments the scheduler part seeds (the issue's figure). */
const rotations = Number(process.env.BENCH_ROTATIONS ?? 100_000);
/** New secrets the import part writes through POST /v1/secrets:batchPut, and the items per call. */
const importCount = Number(process.env.BENCH_IMPORT ?? 100_000);
const importBatch = Number(process.env.BENCH_IMPORT_BATCH ?? 1000);
/** Which parts run (comma-separated): read, h2load, ablation (needs read), releases (needs read), runtimes, write, import, list, watch, delivery, scheduler; all by default. */
const parts = new Set((process.env.BENCH_PARTS ?? "read,h2load,ablation,releases,runtimes,write,import,list,watch,delivery,scheduler").split(",").map((p) => p.trim()));
/** Concurrent watch streams the watch part holds open on one replica (the issue's figure). */
const watchers = Number(process.env.BENCH_WATCHERS ?? 1000);
/** Writes the delivery part makes to the secret `scaivault run --watch` follows, and as many to the agent's. */
const deliveryChanges = Number(process.env.BENCH_DELIVERY_CHANGES ?? 50);
const baseUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const children: ChildProcess[] = [];
const rows: string[][] = [];
const notes: string[] = [];
const explains: string[] = [];
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/**
 * Starts a script: TypeScript through tsx, the service's compiled JavaScript (dist/) as it is deployed.
 * `node` is the binary to run it with (another Node.js release for the "releases" part).
 */
function startNode(script: string, env: Record<string, string>, args: string[] = [], nodeArgs: string[] = [], node = process.execPath): ChildProcess {
  const loader = script.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn(node, [...nodeArgs, ...loader, script, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return child;
}

/**
 * Starts the service under Deno or Bun the way their users do: Deno with deno.json's start task
 * (its command run directly, so the process measured is the service), Bun on its entry file.
 */
function startRuntime(runtime: "deno" | "bun", env: Record<string, string>): ChildProcess {
  const task: string = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).tasks.start;
  const args = runtime === "deno" ? task.replace(/^env deno /, "").split(" ") : ["run", "src/entry/bun.ts"];
  const child = spawn(join(root, "node_modules/.bin", runtime), args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return child;
}

/** BENCH_LOAD_ARGS: extra node flags for the load generators (e.g. --cpu-prof). */
const loadArgs = (process.env.BENCH_LOAD_ARGS ?? "").split(" ").filter(Boolean);

async function runJson<T>(script: string, args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<T> {
  const child = startNode(script, env, args, nodeArgs);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  await new Promise((resolve, reject) => child.on("exit", (code) => (code === 0 ? resolve(null) : reject(new Error(`${script} exited ${code}`)))));
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}

const exited = (c: ChildProcess) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once("exit", resolve)));

/** Peak resident memory of a process since the last reset (Linux). */
async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}
async function resetPeakRss(pid: number) {
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => notes.push("could not reset the peak RSS counter; it includes seeding"));
}

type Load = { rps: number; total: number; p50: number; p99: number; errors: number; non2xx?: number; cpuUs?: number; pgCpuUs?: number };

/**
 * Runs a load and adds the server side's CPU per request: the server process plus PostgreSQL
 * (processes that ended during the run are not counted), so the floor's SELECT and the
 * service's audit writes are both in. On a machine whose cores the load generator shares, this
 * is the figure that does not depend on the generator.
 */
async function withCpu(serverPid: number, run: () => Promise<Load>): Promise<Load> {
  const [server0, pg0] = [await cpuSecondsOf(serverPid), await postgresCpu()];
  const load = await run();
  const [server1, pg1] = [await cpuSecondsOf(serverPid), await postgresCpu()];
  let pg = 0;
  for (const [pid, after] of pg1) pg += after - (pg0.get(pid) ?? 0);
  const per = (seconds: number) => (load.total > 0 ? (seconds * 1e6) / load.total : 0);
  return { ...load, cpuUs: per(server1 - server0 + pg), pgCpuUs: per(pg) };
}
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
function loadRow(name: string, r: Load, versus?: { name: string; rps: number }) {
  rows.push([
    name,
    fmt(r.rps),
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    String(r.errors + (r.non2xx ?? 0)),
    r.cpuUs === undefined ? "" : `${fmt(r.cpuUs)} (PostgreSQL ${fmt(r.pgCpuUs ?? 0)})`,
    versus ? `${fmt(r.rps / versus.rps, 2)}× ${versus.name}` : "",
  ]);
}

async function main() {
  log("building the service (npm run build)");
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  const server = serverNode();
  if (server.node !== process.execPath) notes.push(`the service and the floor servers ran on Node.js ${server.version}: ${process.env.BENCH_SERVICE_NODE ? "BENCH_SERVICE_NODE" : `this machine's ${process.version} is below package.json's engines`}`);
  const dbName = `sv_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const dbUrl = new URL(baseUrl);
  dbUrl.pathname = `/${dbName}`;
  const env = {
    DATABASE_URL: dbUrl.toString(),
    SCAIVAULT_JWT_SECRET: randomBytes(32).toString("base64url"),
    SCAIVAULT_MASTER_KEY: randomBytes(32).toString("base64"),
    SCAIVAULT_DATA_DIR: await mkdtemp(join(tmpdir(), "scaivault-bench-")),
    SCAIVAULT_LOG_LEVEL: "warn",
    SCAIVAULT_SCHEDULER_ENABLED: "false",
    SCAIVAULT_DB_POOL_SIZE: "10",
  };
  try {
    const port = await freePort();
    // BENCH_SERVICE_ARGS: extra node flags for the service (e.g. --cpu-prof while looking for where time goes).
    const serviceArgs = [...startFlags(), ...(process.env.BENCH_SERVICE_ARGS ?? "").split(" ").filter(Boolean)];
    const service = startNode("dist/src/main.js", { ...env, PORT: String(port), HOST: "127.0.0.1" }, [], serviceArgs, server.node);
    service.stdout!.resume();
    const api = `http://127.0.0.1:${port}`;
    await waitReady(`${api}/readyz`);
    const token = await mintToken(env.SCAIVAULT_JWT_SECRET, { tenantId: "bench", scopes: ["admin", "audit:read"], sub: "bench", ttlSeconds: 7200 });

    log(`seeding ${secretsCount} secrets`);
    const paths = Array.from({ length: secretsCount }, (_, i) => `/v1/secrets/bench/app-${i % 100}/secret-${i}`);
    const seedStart = performance.now();
    await inBatches(paths, 50, async (p) => {
      const res = await fetch(api + p, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ data: { username: "svc", password: randomBytes(16).toString("hex") } }),
      });
      if (res.status !== 201) throw new Error(`seed PUT ${p}: ${res.status}`);
      await res.arrayBuffer();
    });
    const seedRate = secretsCount / ((performance.now() - seedStart) / 1000);
    notes.push(`seeded ${fmt(secretsCount)} secrets through REST PUT at ${fmt(seedRate)}/s (50 concurrent): the single-PUT rate the batch import row compares with`);
    const pathsFile = join(env.SCAIVAULT_DATA_DIR, "paths.txt");
    await writeFile(pathsFile, paths.join("\n"));
    const fixedFile = join(env.SCAIVAULT_DATA_DIR, "fixed.txt");
    await writeFile(fixedFile, "/fixed");

    const floor = startNode("bench/floor-server.ts", env, [], [], server.node);
    const { port: floorPort, grpcPort: grpcCeilingPort } = await new Promise<{ port: number; grpcPort: number }>((resolve) =>
      floor.stdout!.once("data", (d) => resolve(JSON.parse(String(d)))),
    );
    const floorUrl = `http://127.0.0.1:${floorPort}`;

    const http = (url: string, file: string, method = "GET", body?: string) =>
      runJson<Load>("bench/load-http.ts", [url, token, file, String(connections), String(seconds), method, ...(body ? [body] : [])]);

    /** Reads each seeded secret once, so a replica's ciphertext cache holds what a replica in steady state holds. */
    const readEverySecretOnce = (apiUrl: string) =>
      inBatches(paths, connections, async (p) => {
        const res = await fetch(apiUrl + p, { headers: { authorization: `Bearer ${token}` } });
        if (res.status !== 200) throw new Error(`warm-up GET ${p}: ${res.status}`);
        await res.arrayBuffer();
      });

    let restRead: Load | undefined;
    if (parts.has("read")) {
      // A replica in steady state has read its secrets before: every seeded secret is read once
      // (the cold case is the ablation row without the ciphertext cache), then a short random run
      // warms the JIT.
      log("warm-up: every secret read once");
      await readEverySecretOnce(api);
      await runJson<Load>("bench/load-http.ts", [api, token, pathsFile, String(connections), "3"]);
      await runJson<Load>("bench/load-http.ts", [floorUrl, token, pathsFile, String(connections), "3"]);

      log("ceiling and floor");
      const ceiling = await withCpu(floor.pid!, () => http(floorUrl, fixedFile));
      const floorRead = await withCpu(floor.pid!, () => http(floorUrl, pathsFile));
      loadRow("ceiling: node:http fixed JSON", ceiling);
      loadRow("floor: jose + pg SELECT + AES-GCM", floorRead, { name: "ceiling", rps: ceiling.rps });

      log("REST read");
      const auditBefore = await countAudit(dbUrl.toString());
      await resetPeakRss(service.pid!);
      const rest = await withCpu(service.pid!, () => http(api, pathsFile));
      restRead = rest;
      const rss = await peakRssMiB(service.pid!);
      await new Promise((r) => setTimeout(r, 1500)); // let read counters flush
      const audited = (await countAudit(dbUrl.toString())) - auditBefore;
      loadRow("REST read GET /v1/secrets/{path}", rest, { name: "floor", rps: floorRead.rps });
      notes.push(`audit entries written during the REST read run: ${fmt(audited)} for ${fmt(rest.total)} completed reads`);
      const { entries, commits } = await auditCommitsOf(dbUrl.toString(), auditBefore);
      notes.push(`group commit: those audit entries took ${fmt(commits)} INSERT transactions (${fmt(entries / Math.max(1, commits), 1)} entries per commit)`);

      log("Vault KV v2 read");
      // The same secrets through the Vault dialect's mount `secret` (the default): one store, two dialects.
      const vaultPathsFile = join(env.SCAIVAULT_DATA_DIR, "vault-paths.txt");
      await writeFile(vaultPathsFile, paths.map((p) => p.replace("/v1/secrets/", "/v1/secret/data/")).join("\n"));
      const vaultRead = await withCpu(service.pid!, () => http(api, vaultPathsFile));
      loadRow("Vault KV v2 read GET /v1/secret/data/{path} (target ≥ 0.9× REST read)", vaultRead, { name: "REST read", rps: rest.rps });

      log("gRPC read");
      const grpcRead = await withCpu(service.pid!, () =>
        runJson<Load>("bench/load-grpc.ts", [String(port), token, pathsFile, String(connections), String(seconds)], {}, loadArgs),
      );
      loadRow("gRPC read GetSecret (@grpc/grpc-js)", grpcRead, { name: "REST read", rps: rest.rps });
      log("gRPC ceiling");
      const grpcCeiling = await withCpu(floor.pid!, () =>
        runJson<Load>("bench/load-grpc.ts", [String(grpcCeilingPort), token, pathsFile, String(connections), String(seconds)], {}, loadArgs),
      );
      loadRow("gRPC ceiling: node:http2 fixed answer, same client", grpcCeiling, { name: "REST read", rps: rest.rps });
      rows.push(["peak RSS of the service during the REST read run", `${fmt(rss, 1)} MiB`, "", "", "", "", ""]);
    }

    if (parts.has("h2load")) {
      if (!hasH2load()) {
        notes.push("h2load rows skipped: h2load is not installed (Debian: apt-get install nghttp2-client)");
      } else {
        // One C load generator for both protocols, each reading the same secret: REST over HTTP/1.1,
        // gRPC over h2c with a framed GetSecretRequest, so the client costs the same on both sides.
        const secretPath = paths[0]!.slice("/v1/secrets/".length);
        const grpcBody = join(env.SCAIVAULT_DATA_DIR, "get-secret.grpc");
        await writeFile(grpcBody, grpcFramed(toBinary(GetSecretRequestSchema, create(GetSecretRequestSchema, { path: secretPath }))));
        const auth = `authorization: Bearer ${token}`;
        const grpcUrl = `${api}/scaivault.v1.SecretsService/GetSecret`;
        await checkGrpcCall(grpcUrl, token, grpcBody);
        const h2 = (url: string, mode: "h1" | "grpc", ...extra: string[]) =>
          runJson<Load>("bench/load-h2load.ts", [url, String(connections), String(seconds), mode, ...extra]);
        log("h2load: floor, REST read, gRPC read");
        await h2(`${api}${paths[0]}`, "h1", "", "--", auth); // warm-up
        // What Node's own HTTP/1.1 and HTTP/2 servers cost under this client when they do nothing:
        // the highest gRPC/REST ratio any Node server can reach here.
        const ceilingH2 = await withCpu(floor.pid!, () => h2(`${floorUrl}/fixed`, "h1", "", "--", auth));
        const grpcCeilingH2 = await withCpu(floor.pid!, () =>
          h2(`http://127.0.0.1:${grpcCeilingPort}/scaivault.v1.SecretsService/GetSecret`, "grpc", grpcBody, "--", auth, "content-type: application/grpc", "te: trailers"),
        );
        const floorH2 = await withCpu(floor.pid!, () => h2(`${floorUrl}${paths[0]}`, "h1", "", "--", auth));
        const restH2 = await withCpu(service.pid!, () => h2(`${api}${paths[0]}`, "h1", "", "--", auth));
        const grpcH2 = await withCpu(service.pid!, () =>
          h2(grpcUrl, "grpc", grpcBody, "--", auth, "content-type: application/grpc", "te: trailers"),
        );
        loadRow("h2load ceiling: node:http fixed JSON (--h1)", ceilingH2);
        loadRow("h2load gRPC ceiling: node:http2 fixed answer (h2c)", grpcCeilingH2, { name: "h2load ceiling", rps: ceilingH2.rps });
        loadRow("h2load floor (--h1, one secret)", floorH2);
        loadRow("h2load REST read (--h1, one secret)", restH2, { name: "h2load floor", rps: floorH2.rps });
        loadRow("h2load gRPC read GetSecret (h2c, one secret)", grpcH2, { name: "h2load REST read", rps: restH2.rps });
        notes.push("h2load rows: p50 column is h2load's mean request time and p99 its maximum (h2load prints no percentiles)");
      }
    }

    if (parts.has("ablation") && restRead) {
      // What each mean of the read path gains: the same REST read with one of them turned off.
      for (const [name, setting] of [
        ["without the ciphertext cache", { SCAIVAULT_SECRET_CACHE_ENTRIES: "0" }],
        ["without the token cache", { SCAIVAULT_TOKEN_CACHE_ENTRIES: "0" }],
        ["without group commit of audit entries", { SCAIVAULT_AUDIT_BATCH_MAX: "1" }],
      ] as const) {
        log(`REST read ${name}`);
        const alternatePort = await freePort();
        const alternate = startNode("dist/src/main.js", { ...env, ...setting, PORT: String(alternatePort), HOST: "127.0.0.1" }, [], startFlags(), server.node);
        alternate.stdout!.resume();
        const alternateApi = `http://127.0.0.1:${alternatePort}`;
        await waitReady(`${alternateApi}/readyz`);
        await readEverySecretOnce(alternateApi);
        await runJson<Load>("bench/load-http.ts", [alternateApi, token, pathsFile, String(connections), "3"]);
        const load = await withCpu(alternate.pid!, () => http(alternateApi, pathsFile));
        loadRow(`REST read ${name} (${Object.entries(setting).map(([k, v]) => `${k}=${v}`).join(" ")})`, load, { name: "REST read", rps: restRead.rps });
        alternate.kill("SIGTERM");
        await Promise.race([exited(alternate), new Promise((r) => setTimeout(r, 15_000))]);
      }
    }

    if (parts.has("releases") && restRead) {
      // The same reads with the service on each Node.js release CI tests (.ci/node-releases),
      // taken from the npm registry's `node` package; the load generators stay on this node.
      for (const release of testedNodeReleases()) {
        const node = nodeBinaryOf(release);
        const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
        log(`REST and gRPC read with the service on Node.js ${version}`);
        const releasePort = await freePort();
        const onRelease = startNode("dist/src/main.js", { ...env, PORT: String(releasePort), HOST: "127.0.0.1" }, [], startFlags(), node);
        onRelease.stdout!.resume();
        const releaseApi = `http://127.0.0.1:${releasePort}`;
        await waitReady(`${releaseApi}/readyz`);
        await readEverySecretOnce(releaseApi);
        await runJson<Load>("bench/load-http.ts", [releaseApi, token, pathsFile, String(connections), "3"]);
        const rest = await withCpu(onRelease.pid!, () => http(releaseApi, pathsFile));
        loadRow(`REST read, service on Node.js ${version}`, rest, { name: `REST read on ${server.version}`, rps: restRead.rps });
        const grpc = await withCpu(onRelease.pid!, () =>
          runJson<Load>("bench/load-grpc.ts", [String(releasePort), token, pathsFile, String(connections), String(seconds)], {}, loadArgs),
        );
        loadRow(`gRPC read, service on Node.js ${version}`, grpc, { name: `REST read on ${version}`, rps: rest.rps });
        onRelease.kill("SIGTERM");
        await Promise.race([exited(onRelease), new Promise((r) => setTimeout(r, 15_000))]);
      }
    }

    if (parts.has("runtimes")) {
      // The same REST read, same load generator and database, with the service under Deno and Bun.
      let nodeRead = restRead;
      if (!nodeRead) {
        log("REST read under Node");
        await runJson<Load>("bench/load-http.ts", [api, token, pathsFile, String(connections), "3"]);
        nodeRead = await withCpu(service.pid!, () => http(api, pathsFile));
        loadRow("REST read under Node (npm start)", nodeRead);
      }
      for (const [runtime, label] of [
        ["deno", "Deno (deno task start)"],
        ["bun", "Bun (bun run src/entry/bun.ts)"],
      ] as const) {
        log(`REST read under ${runtime}`);
        const runtimePort = await freePort();
        const child = startRuntime(runtime, { ...env, PORT: String(runtimePort), HOST: "127.0.0.1" });
        child.stdout!.resume();
        const runtimeApi = `http://127.0.0.1:${runtimePort}`;
        await waitReady(`${runtimeApi}/readyz`);
        await runJson<Load>("bench/load-http.ts", [runtimeApi, token, pathsFile, String(connections), "3"]);
        await resetPeakRss(child.pid!);
        const load = await withCpu(child.pid!, () => http(runtimeApi, pathsFile));
        const rss = await peakRssMiB(child.pid!);
        loadRow(`REST read under ${label}`, load, { name: "Node", rps: nodeRead.rps });
        notes.push(`peak RSS of the service under ${runtime} during its REST read run: ${fmt(rss, 1)} MiB`);
        child.kill("SIGTERM");
        await Promise.race([exited(child), new Promise((r) => setTimeout(r, 15_000))]);
      }
    }

    if (parts.has("write")) {
      log("write");
      const writeBody = JSON.stringify({ data: { username: "svc", password: "rotated-by-bench" } });
      const floorWrite = await withCpu(floor.pid!, () => http(floorUrl, pathsFile, "PUT", writeBody));
      loadRow("write floor: jose + AES-GCM seal + one transaction (version, audit, event)", floorWrite);
      const write = await withCpu(service.pid!, () => http(api, pathsFile, "PUT", writeBody));
      loadRow("REST write PUT (new version)", write, { name: "write floor", rps: floorWrite.rps });
      const grpcWrite = await withCpu(service.pid!, () =>
        runJson<Load>("bench/load-grpc.ts", [String(port), token, pathsFile, String(connections), String(seconds), "put"], {}, loadArgs),
      );
      loadRow("gRPC write PutSecret (@grpc/grpc-js)", grpcWrite, { name: "REST write", rps: write.rps });
      const connectWrite = await withCpu(service.pid!, () => http(api, pathsFile, "CONNECT_PUT", writeBody));
      loadRow("Connect write PutSecret (JSON, autocannon)", connectWrite, { name: "REST write", rps: write.rps });
    }

    if (parts.has("import") && importCount > 0) {
      log(`import: ${fmt(importCount)} secrets through POST /v1/secrets:batchPut`);
      const imported = await batchImport(api, token, importCount);
      rows.push([
        `batch import: ${fmt(importCount)} new secrets, POST /v1/secrets:batchPut of ${fmt(importBatch)}, 2 in flight`,
        `${fmt(imported.rate)} secrets/s`,
        fmt(imported.p50, 2),
        fmt(imported.p99, 2),
        "0",
        "",
        `${fmt(imported.rate / seedRate, 2)}× single PUTs (the seeding rate)`,
      ]);
    }

    if (parts.has("list")) {
      log(`list: seeding ${fmt(listRows)} rows`);
      const list = await listDepth(api, dbUrl.toString(), env.SCAIVAULT_JWT_SECRET);
      for (const [name, at10k, atFull] of list) {
        rows.push([`list ${name}: at 10,000 secrets`, "", fmt(at10k.p50, 2), fmt(at10k.p99, 2), "0", "", ""]);
        rows.push([`list ${name}: at ${fmt(listRows)} secrets`, "", fmt(atFull.p50, 2), fmt(atFull.p99, 2), "0", "", `${fmt(atFull.p50 / at10k.p50, 2)}× at 10,000 (p50)`]);
      }
    }

    if (parts.has("watch")) {
      log(`watch: ${fmt(watchers)} concurrent streams`);
      const w = await watchLoad(service.pid!, port, token);
      rows.push([
        `watch: ${fmt(watchers)} streams on one replica, one write reaches all`,
        "",
        fmt(w.p50, 1),
        fmt(w.p99, 1),
        String(w.errors + (watchers - w.received)),
        "",
        `${fmt(w.perWatcherKiB, 1)} KiB RSS per watcher (${fmt(w.beforeMiB, 1)} → ${fmt(w.afterMiB, 1)} MiB)`,
      ]);
      notes.push(`watch: p50/p99 are the time from the REST write's start until each of ${fmt(watchers)} gRPC watchers received the event (max ${fmt(w.max, 1)} ms)`);
    }

    if (parts.has("delivery")) {
      log(`delivery: ${deliveryChanges} changes each to what run --watch and the agent follow`);
      await deliveryLatency(api, token, server.node);
    }

    service.kill("SIGTERM");
    floor.kill("SIGTERM");
    await Promise.race([Promise.all([exited(service), exited(floor)]), new Promise((r) => setTimeout(r, 15_000))]);

    if (rotations > 0 && parts.has("scheduler")) {
      const replicaEnv = { DATABASE_URL: env.DATABASE_URL, SCAIVAULT_MASTER_KEY: env.SCAIVAULT_MASTER_KEY };
      const runReplicas = async (tenant: string, replicas: number) => {
        log(`scheduler: seeding ${fmt(rotations)} due assignments for ${replicas} replica(s)`);
        await runJson("bench/seed-rotations.ts", [tenant, String(rotations)], replicaEnv);
        const results = await Promise.all(
          Array.from({ length: replicas }, () => runJson<{ rotated: number; errors: number; ms: number }>("bench/scheduler-replica.ts", [], replicaEnv)),
        );
        const rotated = results.reduce((n, r) => n + r.rotated, 0);
        const errors = results.reduce((n, r) => n + r.errors, 0);
        const seconds = Math.max(...results.map((r) => r.ms)) / 1000;
        return { rotated, errors, perSecond: rotated / seconds, split: results.map((r) => r.rotated) };
      };
      const one = await runReplicas("rot-one", 1);
      rows.push([`scheduler: ${fmt(rotations)} due, auto-generate, 1 replica`, `${fmt(one.perSecond)} rot/s`, "", "", String(one.errors + (rotations - one.rotated)), "", ""]);
      const three = await runReplicas("rot-three", 3);
      rows.push([
        `scheduler: ${fmt(rotations)} due, auto-generate, 3 replicas`,
        `${fmt(three.perSecond)} rot/s`,
        "",
        "",
        String(three.errors + (rotations - three.rotated)),
        "",
        `${fmt(three.perSecond / one.perSecond, 2)}× 1 replica (split ${three.split.map((n) => fmt(n)).join(" / ")})`,
      ]);
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    await admin.query(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await admin.end();
  }
  await report(server.version);
}

/** h2load cannot see grpc-status (it arrives with HTTP 200): make sure the body it sends reads the secret. */
async function checkGrpcCall(url: string, token: string, bodyFile: string) {
  const { origin, pathname } = new URL(url);
  const session = http2.connect(origin);
  try {
    const status = await new Promise<string | undefined>((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": pathname, "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${token}` });
      stream.on("trailers", (t) => resolve(t["grpc-status"] as string | undefined));
      stream.on("error", reject);
      stream.resume();
      stream.end(readFileSync(bodyFile));
    });
    if (status !== "0") throw new Error(`the h2load gRPC body answers grpc-status ${status}`);
  } finally {
    session.close();
  }
}

/** The service's resident memory now, in MiB. */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Holds `watchers` streams open from a separate process; memory is sampled while they are open and idle. */
async function watchLoad(servicePid: number, port: number, token: string) {
  const beforeMiB = await rssMiB(servicePid);
  const child = startNode("bench/load-watch.ts", {}, [String(port), token, String(watchers), "5"], loadArgs);
  let afterMiB = 0;
  let out = "";
  const done = new Promise<{ received: number; p50: number; p99: number; max: number; errors: number }>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      for (const line of out.split("\n").slice(0, -1)) {
        const msg = JSON.parse(line);
        if (msg.phase === "live" && afterMiB === 0) {
          afterMiB = -1;
          setTimeout(() => void rssMiB(servicePid).then((mib) => (afterMiB = mib)), 2500);
        }
        if (msg.phase === "done") resolve(msg);
      }
      out = out.slice(out.lastIndexOf("\n") + 1);
    });
    child.on("exit", (code) => code !== 0 && reject(new Error(`load-watch exited ${code}`)));
  });
  const result = await done;
  return { ...result, beforeMiB, afterMiB, perWatcherKiB: ((afterMiB - beforeMiB) * 1024) / watchers };
}

type Delivered = { changes: number; deliveries: number; lost: number; p50: number; p99: number; max: number };

/** `scaivault run --watch` and `scaivault agent` (bench/load-delivery.ts, the CLI on the service's Node.js release): write → delivered. */
async function deliveryLatency(api: string, token: string, node: string) {
  const result = await runJson<{ run: Delivered; agent: Delivered }>("bench/load-delivery.ts", [api, token, node, String(deliveryChanges)]);
  for (const [name, what, d] of [
    ["delivery: run --watch, write → restarted command sees the value", "restarts", result.run],
    ["delivery: agent, write → rendered file holds the value", "renders", result.agent],
  ] as const) {
    const errors = d.lost + Math.abs(d.deliveries - d.changes);
    rows.push([name, "", fmt(d.p50, 1), fmt(d.p99, 1), String(errors), "", `${fmt(d.deliveries)} ${what} for ${fmt(d.changes)} changes`]);
  }
  notes.push(
    `delivery: p50/p99 are the time from the REST write's start (an upper bound of its commit) until the command restarted by \`scaivault run --watch\` recorded the new value at its start, and until inotify saw the agent's rename of the file holding it, default debounce (250 ms) included; max ${fmt(result.run.max, 1)} ms and ${fmt(result.agent.max, 1)} ms; "errors" counts changes that did not arrive within 10 s plus restarts or renders more or fewer than changes`,
  );
}

/** One query on its own connection to the bench database. */
async function queryOnce<T>(url: string, text: string, params: unknown[] = []): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows[0] as T;
  } finally {
    await c.end();
  }
}

async function countAudit(url: string): Promise<number> {
  return (await queryOnce<{ n: number }>(url, "select count(*)::int as n from audit_events where action = 'GetSecret'")).n;
}

/** How many transactions wrote the GetSecret audit entries after the first `skip` (one xmin per INSERT transaction). */
async function auditCommitsOf(url: string, skip: number): Promise<{ entries: number; commits: number }> {
  return queryOnce(
    url,
    "select count(*)::int as entries, count(distinct xmin::text)::int as commits from (select xmin from audit_events where action = 'GetSecret' order by id offset $1) e",
    [skip],
  );
}

/**
 * Seeds `listRows` secret rows in one tenant and 10,000 in another with SQL (no versions: a
 * listing reads none), rows like `inventory/00000001` with a tag on one in ten (`team-0` …
 * `team-9`) and the five secret types in turn, and times the first page and a page halfway, with
 * and without the prefix, tag and secret_type filters, in both tenants.
 */
async function listDepth(api: string, url: string, jwtSecret: string): Promise<[string, Timing, Timing][]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const seed = (tenant: string, n: number) =>
    c.query(
      `insert into secrets (tenant_id, path, secret_type, tags, max_versions, current_version, created_at, updated_at)
       select $1, 'inventory/' || lpad(g::text, 8, '0'), (array['kv','json','certificate','ssh_key','api_key'])[g % 5 + 1],
              case when g % 10 = 0 then array['team-' || (g / 10 % 10)] else '{}' end, 10, 1, now(), now()
       from generate_series(1, $2) g`,
      [tenant, n],
    );
  await seed("bench-list", listRows);
  await seed("bench-list-10k", 10_000);
  await c.query("analyze secrets");
  await c.query("analyze secret_versions");
  const middlePath = `inventory/${String(listRows / 2).padStart(8, "0")}`;
  for (const [name, query, params] of [
    ["read: secret by path", "select * from secrets where tenant_id = $1 and path = $2", ["bench", "bench/app-1/secret-1"]],
    ["read: version by primary key", "select * from secret_versions where secret_id = $1 and version = $2", [1, 1]],
    [
      "list: page after a cursor",
      `select * from secrets where tenant_id = $1 and deleted_at is null and (expires_at is null or expires_at > now()) and path collate "C" > $2 order by path collate "C" limit 51`,
      ["bench-list", middlePath],
    ],
    [
      "list: secret_type filter, bounded count",
      "select count(*) from (select 1 from secrets where tenant_id = $1 and deleted_at is null and (expires_at is null or expires_at > now()) and secret_type = $2 limit 10001) m",
      ["bench-list", "json"],
    ],
  ] as const) {
    const plan = await c.query(`explain ${query}`, [...params]);
    explains.push(`${name}:\n\n    ${query}\n${plan.rows.map((r) => "    " + r["QUERY PLAN"]).join("\n")}`);
  }
  await c.end();
  const time = async (tenant: string, q: string, expectRows: number): Promise<Timing> => {
    const t = await mintToken(jwtSecret, { tenantId: tenant, scopes: ["secrets:read"], sub: "bench", ttlSeconds: 3600 });
    const samples: number[] = [];
    for (let i = 0; i < 31; i++) {
      const t0 = performance.now();
      const res = await fetch(`${api}/v1/secrets?${q}`, { headers: { authorization: `Bearer ${t}` } });
      const body = await res.json();
      if (!res.ok || body.secrets.length !== expectRows) throw new Error(`list ${q} failed: ${res.status}, ${body.secrets?.length} rows`);
      // The first call of each query warms the connection's prepared statement; it is not counted.
      if (i > 0) samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    return { p50: samples[15]!, p99: samples[29]! };
  };
  const cursorAt = (n: number) => Buffer.from(JSON.stringify({ after: `inventory/${String(n).padStart(8, "0")}` })).toString("base64url");
  const cases: [string, (size: number) => string, number][] = [
    ["first page (limit 50, total_count)", () => "limit=50", 50],
    ["page halfway (cursor)", (size) => `limit=50&cursor=${cursorAt(size / 2)}`, 50],
    ["prefix matching 10 rows", (size) => `limit=50&prefix=inventory/${String(size / 2).padStart(8, "0").slice(0, 7)}`, 10],
    ["prefix, 50 of 1,000 rows", (size) => `limit=50&prefix=inventory/${String(size / 2).padStart(8, "0").slice(0, 5)}`, 50],
    ["tag (1 in 10), first page", () => "limit=50&tag=team-3", 50],
    ["tag (1 in 10), halfway", (size) => `limit=50&tag=team-3&cursor=${cursorAt(size / 2)}`, 50],
    ["secret_type (1 in 5), first page", () => "limit=50&secret_type=json", 50],
    ["secret_type (1 in 5), halfway", (size) => `limit=50&secret_type=json&cursor=${cursorAt(size / 2)}`, 50],
  ];
  const results: [string, Timing, Timing][] = [];
  for (const [name, query, expectRows] of cases) {
    results.push([name, await time("bench-list-10k", query(10_000), expectRows), await time("bench-list", query(listRows), expectRows)]);
  }
  return results;
}

type Timing = { p50: number; p99: number };

/** Imports `count` new secrets through POST /v1/secrets:batchPut, two calls in flight; the rate and the calls' latency. */
async function batchImport(api: string, token: string, count: number) {
  const calls = Array.from({ length: Math.ceil(count / importBatch) }, (_, i) => i);
  const latencies: number[] = [];
  const started = performance.now();
  await inBatches(calls, 2, async (call) => {
    const items = Array.from({ length: Math.min(importBatch, count - call * importBatch) }, (_, j) => ({
      path: `import/env-${call % 20}/secret-${call * importBatch + j}`,
      data: { username: "svc", password: randomBytes(16).toString("hex") },
    }));
    const t0 = performance.now();
    const res = await fetch(`${api}/v1/secrets:batchPut`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ items }),
    });
    if (res.status !== 200) throw new Error(`batchPut: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
  });
  const rate = count / ((performance.now() - started) / 1000);
  latencies.sort((a, b) => a - b);
  return { rate, p50: latencies[Math.floor(latencies.length / 2)]!, p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]! };
}

async function report(serverVersion: string) {
  const header = ["measurement", "requests/s", "p50 ms", "p99 ms", "errors", "server CPU µs/request", "ratio"];
  const lines = [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ];
  const md = [
    `# ScaiVault benchmark`,
    ``,
    `${new Date().toISOString()} · ${connections} connections · ${seconds} s per run · service on Node ${serverVersion}, load from Node ${process.version} · PostgreSQL, one machine`,
    ``,
    ...lines,
    ``,
    ...notes.map((n) => `- ${n}`),
    ``,
    `## Query plans of the hot queries`,
    ``,
    ...explains.flatMap((e) => [e, ""]),
  ].join("\n");
  process.stdout.write(md);
  await mkdir(join(root, "bench/results"), { recursive: true });
  await writeFile(join(root, "bench/results/latest.md"), md);
}

process.on("SIGINT", () => {
  for (const c of children) c.kill("SIGKILL");
  process.exit(130);
});
main().catch((err) => {
  for (const c of children) c.kill("SIGKILL");
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
