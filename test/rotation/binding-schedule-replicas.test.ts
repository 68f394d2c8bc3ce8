// A binding with its own cron schedule in Europe/Berlin, across both daylight-saving changes of
// 2026, on three replicas (whole vaults on their own pools over one PostgreSQL) ticking at the
// same injected instants: each occurrence starts exactly one run, inside its window, whichever
// replica gets there; the runners share the work; each old credential is revoked once.
//
// `30 2 * * *` in Berlin: on 2026-03-29 02:30 does not exist (clocks jump 02:00 → 03:00) and
// croner fires at 03:00 CEST; on 2026-10-25 02:30 happens twice and it fires once, at the first.
//
// PostgreSQL-only, like the other replica tests: the embedded database belongs to one process.
// Skipped on the embedded run; the PostgreSQL run without DATABASE_URL fails in test/support/database.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV, startReplica, type Replica } from "./provider-replica.js";
import { HOUR, MINUTE, longToken } from "./rotation-fixtures.js";

const TENANT = "berlin";
const SECRET = "berlin-hook-secret";
const PATH = "berlin/nightly/api-key";

/** The openings of `30 2 * * *` in Europe/Berlin, written out by hand (UTC). */
const SPRING = ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"];
const AUTUMN = ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"];

describe.skipIf(testDatabaseKind === "embedded")("a binding's own Berlin schedule across DST on three replicas", () => {
  const clock = createManualClock("2026-03-27T12:00:00Z");
  let tv: TestVault;
  let replicas: Replica[] = [];
  let token: string;
  let endpoint: CredentialEndpoint;

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV });
    replicas = [await startReplica(tv, clock), await startReplica(tv, clock)];
    token = await longToken(tv, TENANT);
    endpoint = await startCredentialEndpoint({ secret: SECRET, initial: ["init"] });
    expect((await tv.rest("PUT", `/v1/secrets/${PATH}`, { token, body: { data: { api_key: "init" } } })).status).toBe(201);
    const bound = await tv.rest("PUT", `/v1/rotation/secrets/${PATH}`, {
      token,
      body: {
        provider: "webhook",
        config: { url: endpoint.url, revoke: true },
        credentials: { secret: SECRET },
        schedule: "30 2 * * *",
        timezone: "Europe/Berlin",
        rotation_window: "1h",
        grace_period: "1h",
      },
    });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
    expect(bound.body).toMatchObject({ schedule_source: "binding", window_closes_at: "2026-03-28T02:30:00Z" });
  }, 120_000);
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await tv?.close();
    await endpoint?.close();
  });

  /** Every replica ticks, then every replica's runner works, at each instant from `from` to `to` every 5 minutes of the night (00:00 to 03:00 UTC) plus noon. */
  async function nights(from: string, to: string) {
    const ticks = [(now: Date) => tv.vault.scheduler.runSchedulerTick(now), ...replicas.map((r) => r.schedulerTick!)];
    const runners = [tv.vault.rotationRunner, ...replicas.map((r) => r.runner)];
    const started = [0, 0, 0];
    for (let t = Date.parse(from); t <= Date.parse(to); t += 5 * MINUTE) {
      const ofDay = t % (24 * HOUR);
      if (ofDay > 3 * HOUR && ofDay !== 12 * HOUR) continue;
      const now = new Date(t);
      clock.set(now);
      const summaries = (await Promise.all(ticks.map((tick) => tick(now)))) as { started: number; errors: number; missed: number }[];
      summaries.forEach((s, i) => (started[i]! += s.started));
      expect(summaries.map((s) => s.errors)).toEqual([0, 0, 0]);
      await Promise.all(runners.map((r) => r.runDue(now)));
    }
    return started;
  }

  async function runs() {
    return tv.vault.db.selectFrom("rotation_runs").select(["started_at", "status", "triggered_by", "old_version", "new_version"]).where("tenant_id", "=", TENANT).orderBy("seq").execute();
  }

  function expectOnePerOpening(found: { started_at: Date }[], openings: string[]) {
    expect(found.map((r) => r.started_at.toISOString())).toHaveLength(openings.length);
    found.forEach((r, i) => {
      const opens = Date.parse(openings[i]!);
      // Inside the 1h window, spread over its first 54 minutes, seen by a 5-minute tick.
      expect(r.started_at.getTime(), openings[i]).toBeGreaterThanOrEqual(opens);
      expect(r.started_at.getTime(), openings[i]).toBeLessThan(opens + HOUR);
    });
  }

  it("starts exactly one run per occurrence through the spring change, each worked to the end", async () => {
    const started = await nights("2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z");
    console.log(`spring: runs started per replica ${started.join(", ")}`);
    expect(started.reduce((a, b) => a + b, 0)).toBe(SPRING.length);
    const spring = await runs();
    expectOnePerOpening(spring, SPRING);
    expect(spring.every((r) => r.status === "succeeded" && r.triggered_by === "scheduled")).toBe(true);
    expect(spring.map((r) => r.new_version)).toEqual([2, 3, 4, 5]);
    expect(endpoint.requests.filter((r) => r.json?.action === "rotate")).toHaveLength(SPRING.length);
    expect(endpoint.revoked).toHaveLength(SPRING.length);
  }, 600_000);

  it("after months without a tick, the window missed meanwhile is not made up; the autumn change gets one run per occurrence", async () => {
    const started = await nights("2026-10-23T12:00:00Z", "2026-10-27T12:00:00Z");
    console.log(`autumn: runs started per replica ${started.join(", ")}`);
    const autumn = (await runs()).slice(SPRING.length);
    expectOnePerOpening(autumn, AUTUMN);
    expect(autumn.every((r) => r.status === "succeeded")).toBe(true);
    expect(started.reduce((a, b) => a + b, 0)).toBe(AUTUMN.length);
    const shown = await tv.rest("GET", `/v1/rotation/secrets/${PATH}`, { token });
    expect(shown.body).toMatchObject({ status: "active", window_closes_at: "2026-10-28T02:30:00Z" });
    const problems = [...tv.logs].filter((l) => /"level":"(warn|error)"/.test(l) && l.includes("rotation"));
    expect(problems.slice(0, 3)).toEqual([]);
  }, 600_000);
});
