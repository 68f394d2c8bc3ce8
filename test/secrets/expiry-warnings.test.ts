import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { connectPostgres } from "../../src/db/database.js";
import { createExpiryWarningJob } from "../../src/expiry/expiry-warning-job.js";
import { silentLogger } from "../../src/log.js";
import { messageOf } from "../../src/notifications/notification-messages.js";
import { generateWebhookSecret } from "../../src/webhooks/signature.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { drain, startReceiver, webhookTestEnv, type Receiver } from "../webhooks/receiver.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The vault's scheduler (and with it the expiry job) runs only when a test calls it: time is the injected clock's. */
const env = { ...webhookTestEnv, SCAIVAULT_SCHEDULER_ENABLED: "false" };

describe("secret.expiring: once per secret, per threshold, per expiry (default 30d,7d,1d)", () => {
  const clock = createManualClock("2026-03-01T00:00:00Z");
  const secret = generateWebhookSecret();
  let tv: TestVault;
  let receiver: Receiver;
  beforeAll(async () => {
    tv = await startTestVault({ clock, env });
    receiver = await startReceiver({ secret, clock });
  });
  afterAll(async () => {
    await receiver?.close();
    await tv?.close();
  });

  /** A tenant of its own with a webhook subscribed to secret.expiring, and a token that outlives the walk. */
  async function tenant(name: string) {
    const token = await tv.token({ tenantId: name, scopes: ["admin"], ttlSeconds: 800 * 86400 });
    const res = await tv.rest("POST", "/v1/webhooks", { token, body: { name: "expiry", url: `${receiver.url}?t=${name}`, secret, events: ["secret.expiring"] } });
    expect(res.status).toBe(201);
    return token;
  }

  /** Runs the expiry job at the clock's time and delivers what it sent; returns the envelopes this tenant's receiver got. */
  async function tick(name: string) {
    const before = receiver.received.length;
    await tv.vault.expiryWarnings.runOnce();
    await drain(tv);
    const got = receiver.received.slice(before).filter((d) => d.target.endsWith(`?t=${name}`));
    for (const d of got) expect(d.verifyError).toBeUndefined();
    return got.map((d) => d.event);
  }

  async function put(token: string, path: string, body: unknown) {
    const res = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body });
    expect(res.status).toBeLessThan(300);
    return res.body;
  }

  it("a webhook hears each threshold once as time walks to the expiry; a secret written inside 7d hears only 7d, then 1d", async () => {
    const token = await tenant("walk");
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    const start = clock.now().getTime();
    await put(token, "app/cert", { data: { pem: canary }, options: { expires_at: new Date(start + 40 * DAY).toISOString() } });
    await put(token, "app/short", { data: { key: canary }, options: { expires_in: "2d" } });
    await put(token, "app/forever", { data: { key: canary } });
    await put(token, "app/later", { data: { key: canary }, options: { expires_in: "400d" } });

    const heard: { at: number; event: any }[] = [];
    for (let t = start; t <= start + 41 * DAY; t += 6 * HOUR) {
      clock.set(new Date(t));
      // A second pass at the same moment finds nothing more: each warning is recorded with its event.
      for (const event of [...(await tick("walk")), ...(await tick("walk"))]) heard.push({ at: (t - start) / DAY, event });
    }

    expect(heard.map((h) => [h.at, h.event.path, h.event.data.threshold])).toEqual([
      [0, "app/short", "7d"],
      [1, "app/short", "1d"],
      [10, "app/cert", "30d"],
      [33, "app/cert", "7d"],
      [39, "app/cert", "1d"],
    ]);
    const first = heard.find((h) => h.event.path === "app/cert")!.event;
    expect(Object.keys(first)).toEqual(["id", "event_type", "created_at", "tenant_id", "path", "data"]);
    expect(first).toMatchObject({ event_type: "secret.expiring", tenant_id: "walk", created_at: "2026-03-11T00:00:00Z" });
    expect(first.data).toEqual({ expires_at: "2026-04-10T00:00:00Z", threshold: "30d", days_remaining: 30 });
    expect(heard.map((h) => h.event.data.days_remaining)).toEqual([2, 1, 30, 7, 1]);
    expect(receiver.received.some((d) => d.body.includes(canary))).toBe(false);
    expect(tv.logs.some((l) => l.includes(canary))).toBe(false);

    // The warning's rows went once their expiry passed.
    const rows = await tv.vault.db.selectFrom("secret_expiry_warnings").selectAll().execute();
    expect(rows).toEqual([]);
  });

  it("a replica whose clock runs behind does not warn again around the expiry another replica has passed", async () => {
    const token = await tenant("skew");
    const start = clock.now().getTime();
    const expiry = start + 2 * DAY;
    await put(token, "app/skewed", { data: { k: "v" }, options: { expires_at: new Date(expiry).toISOString() } });
    const job = tv.vault.expiryWarnings;
    await job.runOnce(new Date(start)); // 7d
    await job.runOnce(new Date(expiry - DAY)); // 1d
    // At the expiry: one replica 2 s ahead (past it), then one 1.5 s behind (not yet).
    await job.runOnce(new Date(expiry + 2000));
    expect((await job.runOnce(new Date(expiry - 1500))).sent).toBe(0);
    const events = await tv.vault.db.selectFrom("events").select("data").where("tenant_id", "=", "skew").where("event_type", "=", "secret.expiring").execute();
    expect(events.map((e) => (typeof e.data === "string" ? JSON.parse(e.data) : (e.data as any)).threshold)).toEqual(["7d", "1d"]);
  });

  it("a deleted secret and an already expired one get none; a changed expires_at gets warnings of its own", async () => {
    const token = await tenant("rearm");
    await put(token, "app/expired", { data: { k: "v" }, options: { expires_in: "1h" } });
    await put(token, "app/deleted", { data: { k: "v" }, options: { expires_in: "5d" } });
    expect((await tv.rest("DELETE", "/v1/secrets/app/deleted", { token })).status).toBeLessThan(300);
    await put(token, "app/moved", { data: { k: "v" }, options: { expires_in: "3d" } });
    clock.advance(2 * HOUR);

    expect((await tick("rearm")).map((e) => [e.path, e.data.threshold])).toEqual([["app/moved", "7d"]]);
    expect(await tick("rearm")).toEqual([]);

    // A new version pushes the expiry out: the new expiry is 20 days away, so it gets its 30d warning now.
    await put(token, "app/moved", { data: { k: "v2" }, options: { expires_in: "20d" } });
    const rearmed = await tick("rearm");
    expect(rearmed.map((e) => [e.path, e.data.threshold, e.data.days_remaining])).toEqual([["app/moved", "30d", 20]]);
    // Metadata alone may move it too (PATCH): into the 7d range of the newest expiry.
    const patched = await tv.rest("PATCH", "/v1/secrets/app/moved", { token, body: { options: { expires_in: "6d" } } });
    expect(patched.status).toBe(200);
    expect((await tick("rearm")).map((e) => [e.path, e.data.threshold, e.data.days_remaining])).toEqual([["app/moved", "7d", 6]]);

    // The deleted secret stays silent through its would-be thresholds, and so does a restored one once expired.
    clock.advance(6 * DAY);
    expect(await tick("rearm")).toEqual([]);
    expect((await tv.rest("POST", "/v1/secrets/app/deleted/restore", { token })).status).toBe(200);
    expect(await tick("rearm")).toEqual([]);
  });

  it("SCAIVAULT_EXPIRY_WARNINGS: thresholds farthest first, off for none, anything else refused at start", () => {
    const base = { SCAIVAULT_DATA_DIR: "/tmp/unused" };
    expect(loadConfig(base).expiryWarnings).toEqual([
      { label: "30d", seconds: 30 * 86400 },
      { label: "7d", seconds: 7 * 86400 },
      { label: "1d", seconds: 86400 },
    ]);
    expect(loadConfig({ ...base, SCAIVAULT_EXPIRY_WARNINGS: "12h, 14d,336h" }).expiryWarnings).toEqual([
      { label: "14d", seconds: 14 * 86400 },
      { label: "12h", seconds: 12 * 3600 },
    ]);
    expect(loadConfig({ ...base, SCAIVAULT_EXPIRY_WARNINGS: "off" }).expiryWarnings).toEqual([]);
    for (const bad of ["30d,,1d", "soon", "400d", "0d"]) {
      expect(() => loadConfig({ ...base, SCAIVAULT_EXPIRY_WARNINGS: bad })).toThrow(/SCAIVAULT_EXPIRY_WARNINGS must be off or a comma list of durations/);
    }
  });

  it("with the setting off nothing is sent", async () => {
    const job = createExpiryWarningJob({ db: tv.vault.db, clock, logger: silentLogger, thresholds: [], tickSeconds: 30, batchSize: 10 });
    const token = await tenant("off");
    await put(token, "app/soon", { data: { k: "v" }, options: { expires_in: "1h" } });
    expect(await job.runOnce()).toEqual({ sent: 0, recorded: 0 });
    expect(await tv.vault.db.selectFrom("events").select("id").where("tenant_id", "=", "off").where("event_type", "=", "secret.expiring").execute()).toEqual([]);
  });

  it("notification channels render it with the threshold and what to do", () => {
    const m = messageOf({
      id: "evt_1",
      event_type: "secret.expiring",
      created_at: "2026-03-11T00:00:00Z",
      tenant_id: "t1",
      path: "app/cert",
      data: { expires_at: "2026-04-10T00:00:00Z", threshold: "30d", days_remaining: 30 },
    });
    expect(m.title).toBe("Secret expires in 30 days: app/cert");
    expect(m.happened).toContain("2026-04-10T00:00:00Z");
  });
});

// Several replicas need a shared PostgreSQL; the embedded database has one process by design.
describe.skipIf(testDatabaseKind === "embedded")("secret.expiring across replicas", () => {
  it("three replicas running the job at once send each warning exactly once", async () => {
    const clock = createManualClock("2026-05-01T00:00:00Z");
    const tv = await startTestVault({ clock, env: { ...env, SCAIVAULT_DB_POOL_SIZE: "20" } });
    const pools = [connectPostgres(tv.databaseUrl!), connectPostgres(tv.databaseUrl!)];
    try {
      const thresholds = [
        { label: "30d", seconds: 30 * 86400 },
        { label: "7d", seconds: 7 * 86400 },
        { label: "1d", seconds: 86400 },
      ];
      // Small batches, so the replicas interleave many transactions over the same secrets.
      const jobs = [tv.vault.expiryWarnings, ...pools.map((p) => createExpiryWarningJob({ db: p.db, clock, logger: silentLogger, thresholds, tickSeconds: 30, batchSize: 7 }))];
      const token = await tv.token({ tenantId: "replicas", scopes: ["admin"], ttlSeconds: 800 * 86400 });
      const SECRETS = 120;
      for (let i = 0; i < SECRETS; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            tv.rest("PUT", `/v1/secrets/fleet/s${i + j}`, { token, body: { data: { k: "v" }, options: { expires_in: `${10 + ((i + j) % 30)}d` } } }),
          ),
        );
      }
      const start = clock.now().getTime();
      for (let t = start; t <= start + 41 * DAY; t += 12 * HOUR) {
        clock.set(new Date(t));
        // each replica's clock a little off from the others
        const runs = await Promise.all(jobs.map((job, k) => job.runOnce(new Date(t + [0, -1500, 2000][k]!))));
        expect(runs.every((r) => r.sent <= r.recorded)).toBe(true);
      }
      const events = await tv.vault.db.selectFrom("events").select(["path", "data"]).where("tenant_id", "=", "replicas").where("event_type", "=", "secret.expiring").execute();
      const keys = events.map((e) => {
        const data = typeof e.data === "string" ? JSON.parse(e.data) : (e.data as any);
        return `${e.path} ${data.threshold}`;
      });
      // Every secret expires 10 to 39 days out, so each crosses 30d, 7d and 1d one at a time: three events each, no more.
      expect(keys).toHaveLength(3 * SECRETS);
      for (let i = 0; i < SECRETS; i++) {
        expect(keys.filter((k) => k.startsWith(`fleet/s${i} `)).sort(), `fleet/s${i}`).toEqual([`fleet/s${i} 1d`, `fleet/s${i} 30d`, `fleet/s${i} 7d`]);
      }
    } finally {
      for (const p of pools) await p.close();
      await tv.close();
    }
  }, 240_000);
});
