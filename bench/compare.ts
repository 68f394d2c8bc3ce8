/**
 * `npm run bench:compare`: before and after on one machine state. The service of this checkout
 * and the service of a baseline checkout (BENCH_BASELINE_DIR, installed with its own `npm ci` so
 * its `dist/` is built) run side by side, each on its own database and with its own start flags,
 * and every load alternates between them (A B, then B A, …). A machine that slows down during the
 * run slows both, which two runs minutes apart cannot promise. Prints a table of medians with
 * after/before ratios (also bench/results/compare.md).
 * Loads: h2load REST read (--h1) and gRPC read (h2c) of one secret, autocannon REST writes (PUT)
 * over 200 secrets. BENCH_ROUNDS (default 5) and BENCH_SECONDS (default 5) size it; BENCH_LOADS
 * (a comma-separated list of words: read, grpc, write) runs only the loads whose names contain one;
 * BENCH_SERVICE_NODE picks the Node.js release both run on, as in `npm run bench`.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { GetSecretRequestSchema } from "../gen/scaivault/v1/secrets_pb.js";
import { mintToken } from "../src/auth/mint-token.js";
import { cpuSecondsOf, freePort, grpcFramed, hasH2load, inBatches, postgresCpu, root, serverNode, startFlags, waitReady } from "./bench-support.js";

const run = promisify(execFile);
const baselineDir = process.env.BENCH_BASELINE_DIR;
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = 50;
const baseUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const paths = Array.from({ length: 200 }, (_, i) => `/v1/secrets/bench/app-${i % 10}/secret-${i}`);
const log = (msg: string) => process.stderr.write(`[compare] ${msg}\n`);

interface Service {
  label: string;
  process: ChildProcess;
  api: string;
  token: string;
  database: string;
  grpcBody: string;
  pathsFile: string;
}

async function startService(label: string, checkout: string, node: string, admin: pg.Client): Promise<Service> {
  const database = `sv_compare_${label}_${randomBytes(3).toString("hex")}`;
  await admin.query(`create database ${database}`);
  const dbUrl = new URL(baseUrl);
  dbUrl.pathname = `/${database}`;
  const dataDir = await mkdtemp(join(tmpdir(), "scaivault-compare-"));
  const port = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: dbUrl.toString(),
    SCAIVAULT_JWT_SECRET: randomBytes(32).toString("base64url"),
    SCAIVAULT_MASTER_KEY: randomBytes(32).toString("base64"),
    SCAIVAULT_DATA_DIR: dataDir,
    SCAIVAULT_LOG_LEVEL: "warn",
    SCAIVAULT_SCHEDULER_ENABLED: "false",
    SCAIVAULT_DB_POOL_SIZE: "10",
    PORT: String(port),
    HOST: "127.0.0.1",
  };
  const child = spawn(node, [...startFlags(checkout), "dist/src/main.js"], { cwd: checkout, env, stdio: ["ignore", "ignore", "inherit"] });
  const api = `http://127.0.0.1:${port}`;
  await waitReady(`${api}/readyz`);
  const token = await mintToken(env.SCAIVAULT_JWT_SECRET, { tenantId: "bench", scopes: ["admin"], sub: "bench", ttlSeconds: 7200 });
  await inBatches(paths, 10, async (p) => {
    const res = await fetch(api + p, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ data: { username: "svc", password: randomBytes(16).toString("hex") } }),
    });
    if (res.status !== 201) throw new Error(`${label}: seed PUT ${p} answered ${res.status}`);
    await res.arrayBuffer();
  });
  const grpcBody = join(dataDir, "get-secret.grpc");
  await writeFile(grpcBody, grpcFramed(toBinary(GetSecretRequestSchema, create(GetSecretRequestSchema, { path: paths[0]!.slice("/v1/secrets/".length) }))));
  const pathsFile = join(dataDir, "paths.txt");
  await writeFile(pathsFile, paths.join("\n"));
  return { label, process: child, api, token, database, grpcBody, pathsFile };
}

type LoadName = "REST read (h2load --h1)" | "gRPC read (h2load h2c)" | "REST write PUT (autocannon)";
const allLoads: LoadName[] = ["REST read (h2load --h1)", "gRPC read (h2load h2c)", "REST write PUT (autocannon)"];
const loadWords = (process.env.BENCH_LOADS ?? "").split(",").map((w) => w.trim().toLowerCase()).filter(Boolean);
const loads = loadWords.length === 0 ? allLoads : allLoads.filter((load) => loadWords.some((w) => load.toLowerCase().includes(w)));

const writeBody = JSON.stringify({ data: { username: "svc", password: "rotated-by-bench" } });
const grpcHeaders = ["content-type: application/grpc", "te: trailers"];

/** Runs one load against one service with the bench's own load scripts; answers the requests completed and failed. */
async function drive(service: Service, load: LoadName): Promise<{ completed: number; failed: number }> {
  const script = (file: string, args: string[]) => run(process.execPath, ["--import", "tsx", file, ...args], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  const auth = `authorization: Bearer ${service.token}`;
  const { stdout } =
    load === "REST write PUT (autocannon)"
      ? await script("bench/load-http.ts", [service.api, service.token, service.pathsFile, String(connections), String(seconds), "PUT", writeBody])
      : load === "REST read (h2load --h1)"
        ? await script("bench/load-h2load.ts", [service.api + paths[0], String(connections), String(seconds), "h1", "", "--", auth])
        : await script("bench/load-h2load.ts", [`${service.api}/scaivault.v1.SecretsService/GetSecret`, String(connections), String(seconds), "grpc", service.grpcBody, "--", auth, ...grpcHeaders]);
  const result = JSON.parse(stdout.trim().split("\n").pop()!) as { total: number; errors: number; non2xx?: number };
  const non2xx = result.non2xx ?? 0;
  return { completed: result.total - non2xx, failed: result.errors + non2xx };
}

/** One measured run: requests/s and the server side's CPU per request (the service plus PostgreSQL, per process). */
async function measure(service: Service, load: LoadName) {
  const [service0, pg0] = [await cpuSecondsOf(service.process.pid!), await postgresCpu()];
  const started = performance.now();
  const { completed, failed } = await drive(service, load);
  const elapsed = (performance.now() - started) / 1000;
  const [service1, pg1] = [await cpuSecondsOf(service.process.pid!), await postgresCpu()];
  let pgSeconds = 0;
  for (const [pid, after] of pg1) pgSeconds += after - (pg0.get(pid) ?? 0);
  const perRequest = (cpuSeconds: number) => (completed > 0 ? (cpuSeconds * 1e6) / completed : 0);
  return { rps: completed / Math.min(elapsed, seconds), cpuUs: perRequest(service1 - service0 + pgSeconds), postgresUs: perRequest(pgSeconds), failed };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main() {
  if (!baselineDir) throw new Error("set BENCH_BASELINE_DIR to a checkout of the baseline, installed with npm ci (e.g. git worktree add /tmp/base <ref> && cd /tmp/base && npm ci)");
  if (loads.length === 0) throw new Error(`BENCH_LOADS=${process.env.BENCH_LOADS} names none of: ${allLoads.join(", ")}`);
  if (!hasH2load()) throw new Error("h2load is not installed (Debian: apt-get install nghttp2-client)");
  const server = serverNode();
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  const services: Service[] = [];
  try {
    log(`starting the baseline (${baselineDir}) and this checkout on Node.js ${server.version}`);
    services.push(await startService("before", resolve(baselineDir), server.node, admin));
    services.push(await startService("after", root, server.node, admin));
    const results = new Map<string, Array<Awaited<ReturnType<typeof measure>>>>();
    for (const load of loads) {
      log(load);
      for (const service of services) await drive(service, load); // warm-up
      for (let round = 0; round < rounds; round++) {
        for (const service of round % 2 === 0 ? services : [...services].reverse()) {
          const key = `${load}\0${service.label}`;
          results.set(key, [...(results.get(key) ?? []), await measure(service, load)]);
        }
      }
    }
    const header = "| load | before: requests/s | after: requests/s | after/before | before: server CPU µs/request (PostgreSQL) | after: server CPU µs/request (PostgreSQL) | after/before | failed |";
    const lines = [header, "|---|---|---|---|---|---|---|---|"];
    for (const load of loads) {
      const [before, after] = services.map((s) => results.get(`${load}\0${s.label}`)!);
      const [rpsBefore, rpsAfter] = [median(before!.map((r) => r.rps)), median(after!.map((r) => r.rps))];
      const [cpuBefore, cpuAfter] = [median(before!.map((r) => r.cpuUs)), median(after!.map((r) => r.cpuUs))];
      const [pgBefore, pgAfter] = [median(before!.map((r) => r.postgresUs)), median(after!.map((r) => r.postgresUs))];
      const failed = [...before!, ...after!].reduce((n, r) => n + r.failed, 0);
      lines.push(`| ${load} | ${fmt(rpsBefore)} | ${fmt(rpsAfter)} | ${fmt(rpsAfter / rpsBefore, 2)}× | ${fmt(cpuBefore)} (${fmt(pgBefore)}) | ${fmt(cpuAfter)} (${fmt(pgAfter)}) | ${fmt(cpuAfter / cpuBefore, 2)}× | ${failed} |`);
    }
    const md = [
      "# ScaiVault before/after",
      "",
      `${new Date().toISOString()} · baseline ${baselineDir} · ${rounds} alternating rounds of ${seconds} s per load · ${connections} connections · both on Node ${server.version} · PostgreSQL, one machine · medians`,
      "",
      ...lines,
      "",
    ].join("\n");
    process.stdout.write(md);
    await writeFile(join(root, "bench/results/compare.md"), md);
  } finally {
    for (const s of services) s.process.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 1000));
    for (const s of services) await admin.query(`drop database if exists ${s.database} with (force)`).catch(() => {});
    await admin.end();
  }
}

await main();
