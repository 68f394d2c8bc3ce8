import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mintToken } from "../../src/auth/mint-token.js";
import { testDatabaseKind } from "../support/database.js";
import { grpcClient, reasonOf } from "../support/grpc.js";
import { startServiceProcess, type ServiceProcess } from "../support/service-process.js";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../support/throwaway-postgres.js";
import { testJwtSecret } from "../support/vault.js";

interface Answer {
  kind: "read" | "write" | "grpc";
  status: number | string;
  startedAt: number;
  endedAt: number;
}

// Needs PostgreSQL tools; it runs on the PostgreSQL pass of the suite, with a cluster of its own.
describe.runIf(testDatabaseKind === "postgres")("surviving PostgreSQL restarts", () => {
  let cluster: ThrowawayPostgres;
  // The service as its own process, so "the process stays alive" is a real check.
  let service: ServiceProcess;
  let dataDir: string;
  let token: string;
  let operator: string;
  let grpcSecrets: ReturnType<typeof grpcClient>;
  const base = () => `http://127.0.0.1:${service.port}`;

  beforeAll(async () => {
    cluster = await startThrowawayPostgres();
    dataDir = await mkdtemp(join(tmpdir(), "scaivault-outage-"));
    service = await startServiceProcess({
      databaseUrl: cluster.url,
      dataDir,
      env: { SCAIVAULT_ACCESS_FLUSH_MS: "200", SCAIVAULT_SCHEDULER_TICK: "1s", SCAIVAULT_WEBHOOK_POLL: "1s", SCAIVAULT_DB_CONNECT_TIMEOUT: "2s" },
    });
    token = await mintToken(testJwtSecret, { tenantId: "outage", scopes: ["admin", "audit:read"], sub: "load" });
    operator = await mintToken(testJwtSecret, { tenantId: "ops", scopes: ["platform:admin"] });
    grpcSecrets = grpcClient(service.port, "SecretsService", "secrets.proto");
  }, 180_000);

  afterAll(async () => {
    grpcSecrets?.close();
    await service?.stop();
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number | string; json?: any }> {
    try {
      const res = await fetch(base() + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        // Longer than any answer may take: a hang shows up as "timeout", which the test refuses.
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    } catch (err) {
      return { status: (err as Error).name === "TimeoutError" ? "timeout" : `network:${(err as Error).message}` };
    }
  }

  function grpcRead(): Promise<number | string> {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    return new Promise((resolve) => {
      grpcSecrets.GetSecret({ path: "load/seed" }, md, { deadline: Date.now() + 15_000 }, (err: grpc.ServiceError | null) => {
        if (!err) return resolve(0);
        resolve(err.code === grpc.status.UNAVAILABLE && reasonOf(err) === "unavailable" ? grpc.status.UNAVAILABLE : `grpc:${err.code}:${reasonOf(err)}`);
      });
    });
  }

  /** Reads and writes from four workers until stopped; every acknowledged write is remembered with its value. */
  function runLoad(tag: string) {
    const answers: Answer[] = [];
    const acknowledged = new Map<string, number>();
    let stopped = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stopped) {
        const i = n++;
        const startedAt = Date.now();
        if (i % 3 === 0) {
          const path = `load/${tag}/w${w}/k${i}`;
          const res = await call("PUT", `/v1/secrets/${path}`, { data: { i } });
          if (res.status === 201 || res.status === 200) acknowledged.set(path, i);
          answers.push({ kind: "write", status: res.status, startedAt, endedAt: Date.now() });
        } else if (w === 0 && i % 3 === 1) {
          answers.push({ kind: "grpc", status: await grpcRead(), startedAt, endedAt: Date.now() });
        } else {
          const res = await call("GET", "/v1/secrets/load/seed");
          answers.push({ kind: "read", status: res.status, startedAt, endedAt: Date.now() });
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const workers = Promise.all([0, 1, 2, 3].map(worker));
    return {
      answers,
      acknowledged,
      async stop() {
        stopped = true;
        await workers;
      },
    };
  }

  for (const mode of ["fast", "immediate"] as const) {
    it(`answers 503 during a pg_ctl -m ${mode} stop, loses no acknowledged write and recovers by itself`, async () => {
      expect((await call("PUT", "/v1/secrets/load/seed", { data: { seed: true } })).status).toBeLessThan(300);
      const load = runLoad(mode);
      await vi.waitFor(() => expect(load.acknowledged.size).toBeGreaterThan(5), { timeout: 30_000, interval: 100 });

      await cluster.pause(mode);
      const downFrom = Date.now();
      const readyDuringOutage = await fetch(`${base()}/readyz`, { signal: AbortSignal.timeout(15_000) });
      // The outage the issue asks for: five seconds without a database.
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      const downUntil = Date.now();
      await cluster.resume();
      const restartedAt = Date.now();

      // Calls succeed again within 10 s of the database returning, with no restart of the service.
      let recoveredAt = 0;
      while (Date.now() - restartedAt < 10_000) {
        if ((await call("GET", "/v1/secrets/load/seed")).status === 200) {
          recoveredAt = Date.now();
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      await load.stop();

      expect(service.child.exitCode).toBeNull();
      expect(readyDuringOutage.status).toBe(503);
      expect(recoveredAt, "no successful read within 10 s of the restart").toBeGreaterThan(0);
      const allowed = new Set<number | string>([200, 201, 503, grpc.status.UNAVAILABLE, 0]);
      expect(load.answers.filter((a) => !allowed.has(a.status))).toEqual([]);
      const duringOutage = load.answers.filter((a) => a.startedAt >= downFrom && a.endedAt <= downUntil);
      expect(duringOutage.length).toBeGreaterThan(10);
      expect(duringOutage.filter((a) => a.status !== 503 && a.status !== grpc.status.UNAVAILABLE)).toEqual([]);
      expect(duringOutage.some((a) => a.kind === "grpc")).toBe(true);
      expect(load.answers.filter((a) => a.endedAt > recoveredAt).some((a) => a.status === 200 || a.status === 201)).toBe(true);

      const lost: string[] = [];
      for (const [path, i] of load.acknowledged) {
        const res = await call("GET", `/v1/secrets/${path}`);
        if (res.status !== 200 || res.json?.data?.i !== i) lost.push(`${path}: ${res.status}`);
      }
      expect(lost).toEqual([]);
      expect((await fetch(`${base()}/readyz`)).status).toBe(200);
    }, 180_000);
  }

  it("keeps its LISTEN connection and access counting working after the restarts", async () => {
    // A registry row written straight into the database reaches the service only through its NOTIFY.
    const partnerAdmin = await mintToken(testJwtSecret, { tenantId: "p-home", scopes: ["secrets:read"], partnerId: "p-out", partnerAdmin: true });
    const asPartner = () => fetch(`${base()}/v1/t/outage/secrets/load/seed`, { headers: { authorization: `Bearer ${partnerAdmin}` } });
    expect((await asPartner()).status).toBe(403); // cached: not registered
    const sqlClient = new pg.Client({ connectionString: cluster.url });
    await sqlClient.connect();
    try {
      await sqlClient.query("insert into tenants (tenant_id, partner_id, created_at, updated_at) values ('outage', 'p-out', now(), now())");
    } finally {
      await sqlClient.end();
    }
    await vi.waitFor(async () => expect((await asPartner()).status).toBe(200), { timeout: 10_000, interval: 100 });
    expect((await call("GET", "/v1/tenants/outage")).status).toBe(403); // the tenant's admin is no operator
    expect((await fetch(`${base()}/v1/tenants/outage`, { headers: { authorization: `Bearer ${operator}` } })).status).toBe(200);
    await vi.waitFor(
      async () => expect((await call("GET", "/v1/secrets/metadata/load/seed")).json?.access_count_30d).toBeGreaterThan(10),
      { timeout: 10_000, interval: 200 },
    );
    expect(service.child.exitCode).toBeNull();
  }, 60_000);
});
