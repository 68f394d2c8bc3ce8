// The standing fault-and-history test: three replicas (processes of their own) on a PostgreSQL
// cluster of the test's own, each reaching it through a TCP fault proxy the test controls. While
// writers do check-and-set writes and readers read over REST against random replicas, watchers
// follow the changes (SSE and gRPC, resuming after every lost stream) and a receiver takes the
// webhooks, the test injects faults one after another: connection resets, added latency, a full
// freeze of a replica's database connections, a freeze of its LISTEN connection only, kill -9 of
// a replica (started again), and `pg_ctl -m immediate` restarts of the database. A checker then
// proves from the recorded history (test/support/history-checker.ts) that no acknowledged write
// was lost, no version is missing or doubled, no read returned a version older than one
// acknowledged before it began (on whichever replica), every watcher saw each committed change
// once and in order, every change reached the webhook (or is still queued for it) under one id,
// and every call was answered within the documented bound. About 2.5 minutes by default (one
// round of the six kinds of fault at least); SCAIVAULT_FAULT_TEST_SECONDS sets how long faults
// go on (default 45: in practice one round), SCAIVAULT_FAULT_TEST_SEED replays the random choices.
// PostgreSQL only; fails, not skips, in the PostgreSQL run without one.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../../src/auth/mint-token.js";
import { listenerApplicationName } from "../../src/db/shared-listener.js";
import { testDatabaseKind } from "../support/database.js";
import { checkHistory, digestOf, type StoredVersion } from "../support/history-checker.js";
import { randomSource, startResumingWatcher, startWebhookReceiver, startWorkload, type ResumingWatcher } from "../support/history-clients.js";
import { startReplicaSet, type ReplicaSet } from "../support/replica-set.js";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../support/throwaway-postgres.js";
import { testJwtSecret } from "../support/vault.js";

const faultSeconds = Number(process.env.SCAIVAULT_FAULT_TEST_SECONDS ?? 45);
/** The documented bound with default settings (docs/reliability.md: 503 within 6 s). */
const documentedBoundMs = 6_000;
/** What a loaded, shared 2-core test machine adds to it (scheduling, three replicas and the database on two cores). */
const slackMs = 3_000;
const tenantId = "history";
const prefix = "h/";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type FaultKind = "kill" | "freeze" | "reset" | "db_restart" | "latency" | "listener_freeze";
const faultOrder: FaultKind[] = ["kill", "freeze", "reset", "db_restart", "latency", "listener_freeze"];

describe.runIf(testDatabaseKind === "postgres")("a fault run with its history checked", () => {
  let cluster: ThrowawayPostgres;
  let dataDir: string;
  let set: ReplicaSet;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let watchers: ResumingWatcher[] = [];
  let token: string;
  const seed = Number(process.env.SCAIVAULT_FAULT_TEST_SEED ?? Date.now() % 100_000);

  beforeAll(async () => {
    cluster = await startThrowawayPostgres();
    dataDir = await mkdtemp(join(tmpdir(), "scaivault-history-"));
    receiver = await startWebhookReceiver();
    token = await mintToken(testJwtSecret, { tenantId, scopes: ["admin"], sub: "history", ttlSeconds: faultSeconds + 3_600 });
    set = await startReplicaSet({
      count: 3,
      databaseUrl: cluster.url,
      dataDir,
      token,
      // Default deadlines: the bound under test is the documented one.
      env: { SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SCAIVAULT_WEBHOOK_POLL: "1s", SCAIVAULT_WEBHOOK_TIMEOUT: "2s" },
    });
  }, 180_000);

  afterAll(async () => {
    for (const w of watchers) w.stop();
    await set?.close();
    await receiver?.close();
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Injects one fault and heals it; returns once the system is meant to be whole again. */
  async function inject(kind: FaultKind, random: () => number) {
    const replica = set.replicas[Math.floor(random() * set.replicas.length)];
    switch (kind) {
      case "kill":
        await set.kill(replica);
        await sleep(1_000);
        await set.start(replica);
        return;
      case "freeze": // longer than the bound: calls on that replica must answer 503 meanwhile
        replica.proxy.freeze();
        await sleep(8_000);
        replica.proxy.thaw();
        return;
      case "reset":
        for (const r of set.replicas) r.proxy.resetAll();
        return;
      case "db_restart":
        await cluster.pause("immediate");
        await sleep(1_500);
        await cluster.resume();
        return;
      case "latency":
        replica.proxy.latency(100);
        await sleep(4_000);
        replica.proxy.latency(0);
        return;
      case "listener_freeze":
        replica.proxy.freezeWhere(listenerApplicationName);
        await sleep(4_000);
        replica.proxy.thaw();
        return;
    }
  }

  async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await sleep(250);
    }
    console.warn(`fault-history: ${what} not reached within ${timeoutMs} ms`);
    return false;
  }

  /** Every version of every path the writers tried, read back through one replica. */
  async function readBack(paths: string[]): Promise<StoredVersion[]> {
    const replica = set.replicas[0];
    const work: { path: string; version: number }[] = [];
    for (const path of paths) {
      const a = await set.call(replica, "GET", `/v1/secrets/${path}`);
      if (a.status === 404) continue;
      if (a.status !== 200) throw new Error(`reading ${path} back: ${a.status}`);
      for (let v = 1; v <= a.json.version; v++) work.push({ path, version: v });
    }
    const stored: StoredVersion[] = [];
    const next = async () => {
      for (let item = work.shift(); item; item = work.shift()) {
        const a = await set.call(replica, "GET", `/v1/secrets/${item.path}?version=${item.version}`);
        if (a.status !== 200 && a.status !== 404) throw new Error(`reading ${item.path}@${item.version} back: ${a.status}`);
        stored.push({ ...item, digest: a.status === 200 ? digestOf(a.json.data) : undefined });
      }
    };
    await Promise.all(Array.from({ length: 8 }, next));
    return stored;
  }

  it("loses no acknowledged write, serves no stale read, and delivers every change once in order, under resets, latency, freezes, kill -9 and database restarts", async () => {
    const random = randomSource(seed);
    const hook = await set.call(set.replicas[0], "POST", "/v1/webhooks", { name: "history", url: receiver.url, events: ["secret.created", "secret.updated"], is_active: true });
    expect(hook.status, JSON.stringify(hook.json)).toBe(201);
    watchers = [
      startResumingWatcher({ name: "sse", protocol: "sse", set, token, prefix, seed: seed + 1 }),
      startResumingWatcher({ name: "grpc", protocol: "grpc", set, token, prefix, seed: seed + 2 }),
    ];
    await Promise.all(watchers.map((w) => w.live));

    const startedAt = Date.now();
    const workload = startWorkload({ set, prefix, slots: 6, writers: 6, readers: 3, seed, pauseMs: 10 });
    const faults: Record<FaultKind, number> = { kill: 0, freeze: 0, reset: 0, db_restart: 0, latency: 0, listener_freeze: 0 };
    await sleep(3_000);
    // At least one round of every kind, then more rounds until the fault time is up.
    for (let i = 0; i < faultOrder.length || Date.now() - startedAt < faultSeconds * 1_000; i++) {
      const kind = faultOrder[i % faultOrder.length];
      await inject(kind, random);
      faults[kind]++;
      await sleep(2_000);
    }
    // Everything healed: every replica ready again, then a little quiet traffic.
    const ready = await until(
      "every replica ready",
      async () => (await Promise.all(set.replicas.map((r) => set.call(r, "GET", "/readyz", undefined, 5_000)))).every((a) => a.status === 200),
      30_000,
    );
    await sleep(2_000);
    await workload.stop();
    const runMs = Date.now() - startedAt;

    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        `select id, event_type, path, (data->>'version')::int as version from events where tenant_id = $1 and event_type in ('secret.created', 'secret.updated') order by seq`,
        [tenantId],
      );
      const events = rows.map((r) => ({ id: r.id as string, eventType: r.event_type as string, path: r.path as string, version: r.version as number }));
      await until("every watcher caught up", () => watchers.every((w) => w.log().events.length >= events.length), 30_000);
      const ids = new Set(events.map((e) => e.id));
      await until("every change delivered to the webhook", () => new Set(receiver.deliveries.map((d) => d.bodyId).filter((id) => ids.has(id))).size >= ids.size, 20_000);
      for (const w of watchers) w.stop();
      // Deliveries a fault left claimed come again when the claim lapses (a minute): queued, not lost.
      const queued = await admin.query(
        `select event_id as id from webhook_deliveries where tenant_id = $1 and state = 'pending'
         union select id from events where tenant_id = $1 and dispatched_at is null`,
        [tenantId],
      );
      const delivered = new Set(receiver.deliveries.map((d) => d.bodyId));
      const queuedDeliveries = new Set<string>(queued.rows.map((r) => r.id as string).filter((id) => !delivered.has(id)));
      const stored = await readBack(workload.paths());

      const anomalies = checkHistory({
        writes: workload.writes,
        reads: workload.reads,
        stored,
        events,
        watchers: watchers.map((w) => w.log()),
        deliveries: receiver.deliveries,
        queuedDeliveries,
        boundMs: documentedBoundMs + slackMs,
      });
      const acked = workload.writes.filter((w) => w.version !== undefined).length;
      const calls = [...workload.writes, ...workload.reads];
      const count = (status: unknown) => calls.filter((c) => c.status === status).length;
      const longest = Math.max(...calls.map((c) => c.endedAt - c.startedAt));
      console.info(
        [
          `fault-history (seed ${seed}): ${(runMs / 1000).toFixed(0)} s, ${calls.length} operations (${workload.writes.length} writes, ${acked} acknowledged, ${count(409)} cas conflicts; ${workload.reads.length} reads)`,
          `  answers: ${count(503)} × 503, ${count("network")} cut by a kill; longest ${longest.toFixed(0)} ms (bound ${documentedBoundMs + slackMs} ms)`,
          `  faults: ${Object.entries(faults).map(([k, n]) => `${k} ${n}`).join(", ")}`,
          `  ${events.length} committed changes on ${workload.paths().length} paths; watchers: ${watchers.map((w) => `${w.log().name} ${w.log().events.length} events, ${w.resumes()} resumes`).join("; ")}`,
          `  webhook: ${receiver.deliveries.length} deliveries of ${new Set(receiver.deliveries.map((d) => d.bodyId)).size} changes, ${queuedDeliveries.size} still queued`,
          `  anomalies: ${anomalies.length}`,
          ...anomalies.slice(0, 30).map((a) => `    ${a}`),
        ].join("\n"),
      );
      expect(ready, "every replica answers /readyz 200 after the faults").toBe(true);
      expect(anomalies.slice(0, 30)).toEqual([]);
      // The run did what it says: traffic (a loaded 2-core machine manages a few calls a second), and every kind of fault at least once.
      expect(acked).toBeGreaterThanOrEqual(30);
      expect(workload.reads.length).toBeGreaterThanOrEqual(100);
      expect(Object.values(faults).every((n) => n >= 1)).toBe(true);
      expect(events.length).toBeGreaterThanOrEqual(acked);
    } finally {
      await admin.end();
    }
  }, (faultSeconds + 240) * 1_000);
});
