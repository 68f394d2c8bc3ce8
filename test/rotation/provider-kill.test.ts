// The crash matrix with a real killed process: a replica runs as its own Node.js process on the
// shared PostgreSQL and is killed with SIGKILL while its provider call is in flight (the system
// it calls kills it on receipt: at create, during the propagation check, at revoke, and right
// after IAM answered CreateAccessKey). A second replica, in this process on the injected clock,
// takes the run over once the dead replica's claim lapses and finishes it. Invariants after each
// case: the current credential works at the system, no other credential is left valid, nothing
// current is revoked, no version number is lost.
//
// PostgreSQL-only (the embedded database belongs to one process): skipped on the embedded run;
// the PostgreSQL run without DATABASE_URL fails in test/support/database.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../../src/auth/mint-token.js";
import { createManualClock } from "../../src/clock.js";
import { testDatabaseKind } from "../support/database.js";
import { startFakeIam, type FakeIam } from "../support/fake-iam.js";
import { startServiceProcess, type ServiceProcess } from "../support/service-process.js";
import { startTestVault, testJwtSecret, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV } from "./provider-replica.js";
import { HOUR, longToken } from "./rotation-fixtures.js";

const SECRET = "kill-hook-secret";
const TENANT = "kill";

describe.skipIf(testDatabaseKind === "embedded")("provider rotation: a replica killed with SIGKILL mid-step", () => {
  // The in-process replica's clock: real time until a test moves it past the dead replica's lease.
  const clock = createManualClock(new Date());
  let tv: TestVault;
  let token: string;
  let endpoint: CredentialEndpoint;
  let iam: FakeIam;
  let child: ServiceProcess | undefined;

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV });
    token = await longToken(tv, TENANT);
    endpoint = await startCredentialEndpoint({ secret: SECRET });
    iam = await startFakeIam();
  }, 120_000);
  afterAll(async () => {
    await child?.stop("SIGKILL");
    await tv?.close();
    await endpoint?.close();
    await iam?.close();
  });

  /** The replica to kill: the service as its own process, its runner ticking every second on real time. */
  async function startChild(): Promise<{ proc: ServiceProcess; token: string }> {
    child = await startServiceProcess({
      databaseUrl: tv.databaseUrl!,
      dataDir: tv.dataDir,
      env: { SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SCAIVAULT_SCHEDULER_TICK: "1s", SCAIVAULT_WEBHOOK_POLL: "1h", SCAIVAULT_WEBHOOK_TIMEOUT: "2m" },
    });
    return { proc: child, token: await mintToken(testJwtSecret, { tenantId: TENANT, scopes: ["admin"], sub: "operator" }, new Date()) };
  }

  /** Asks the child to rotate `path`; the answer may never come (the child is killed on the way). */
  function rotateOnChild(c: { proc: ServiceProcess; token: string }, path: string): Promise<unknown> {
    return fetch(`${c.proc.baseUrl}/v1/secrets/${path}/rotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.token}`, "content-type": "application/json" },
      body: "{}",
    }).then(
      (r) => r.text(),
      () => "no answer",
    );
  }

  /** Waits for the SIGKILL to land, then checks the dead replica still holds the run. */
  async function afterKill(proc: ServiceProcess, runId: () => Promise<string>) {
    expect(await proc.exited, proc.output()).toBe("SIGKILL");
    child = undefined;
    const run = await runOf(await runId());
    expect(run.claimed_until, "the dead replica's claim outlives it").not.toBeNull();
    clock.set(new Date());
    expect(await tv.vault.rotationRunner.runDue(clock.now()), "nobody takes a run over while its claim holds").toBe(0);
    // The lease lapses: no sleeping through it, the injected clock moves past it.
    clock.set(new Date(run.claimed_until!.getTime() + 1000));
    return run;
  }

  const secretOf = (path: string) => tv.vault.db.selectFrom("secrets").selectAll().where("tenant_id", "=", TENANT).where("path", "=", path).executeTakeFirstOrThrow();
  const latestRunId = async (path: string) => {
    const s = await secretOf(path);
    return (await tv.vault.db.selectFrom("rotation_runs").select("id").where("secret_id", "=", s.id).orderBy("seq", "desc").executeTakeFirstOrThrow()).id;
  };
  const runOf = (id: string) => tv.vault.db.selectFrom("rotation_runs").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
  const current = async (path: string) => (await tv.rest("GET", `/v1/secrets/${path}`, { token })).body;

  async function versionsAreWhole(path: string) {
    const s = await secretOf(path);
    const numbers = (await tv.vault.db.selectFrom("secret_versions").select("version").where("secret_id", "=", s.id).orderBy("version").execute()).map((v) => v.version);
    expect(numbers, "no version number is lost").toEqual(numbers.map((_, i) => i + 1));
  }

  /** A secret whose value `init-<name>` is valid at the endpoint, bound to the webhook provider with a propagation check. */
  async function bindWebhook(name: string, grace: string): Promise<string> {
    const path = `kill/${name}`;
    endpoint.valid.add(`init-${name}`);
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { key: `init-${name}` } } })).status).toBe(201);
    const configured = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, {
      token,
      body: { provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials: { secret: SECRET }, grace_period: grace, propagation_check: { url: endpoint.healthUrl } },
    });
    expect(configured.status, JSON.stringify(configured.body)).toBe(201);
    return path;
  }

  /** The endpoint kills the child when a request matching `when` arrives, and never answers it (its caller is dead). */
  function killOn(when: (req: { method: string; url: string; json?: any }) => boolean) {
    endpoint.override = (req) => {
      if (!when(req) || !child) return undefined;
      child.child.kill("SIGKILL");
      return "hang";
    };
  }
  const settle = () => {
    endpoint.override = undefined;
    endpoint.releaseHeld("drop");
  };

  async function webhookInvariants(path: string, name: string, previousMayBeValid: boolean) {
    const now = (await current(path)).data.key as string;
    expect(endpoint.valid.has(now), "the current credential works").toBe(true);
    expect(endpoint.revoked, "the current credential is never revoked").not.toContain(now);
    const allowed = new Set([now]);
    if (previousMayBeValid) allowed.add(`init-${name}`);
    const mine = [`init-${name}`, ...(endpoint.issuedFor.get(path) ?? [])];
    expect(mine.filter((v) => endpoint.valid.has(v) && !allowed.has(v)), "no other credential stays valid").toEqual([]);
    await versionsAreWhole(path);
  }

  it("killed while the endpoint issues the new credential: the second replica creates it once and finishes", async () => {
    const path = await bindWebhook("at-create", "1h");
    const c = await startChild();
    killOn((req) => req.json?.action === "rotate" && req.json.path === path);
    await rotateOnChild(c, path);
    const run = await afterKill(c.proc, () => latestRunId(path));
    settle();
    expect(run).toMatchObject({ status: "running", step: "create", new_version: null });
    expect(endpoint.issuedFor.get(path)).toBeUndefined();

    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runOf(run.id)).toMatchObject({ status: "waiting_grace", step: "revoke", old_version: 1, new_version: 2 });
    expect(endpoint.issuedFor.get(path)).toHaveLength(1);
    expect((await current(path)).data.key).toBe(endpoint.issuedFor.get(path)![0]);
    await webhookInvariants(path, "at-create", true);

    clock.advance(HOUR + 1000);
    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runOf(run.id)).toMatchObject({ status: "succeeded", step: "done" });
    expect(endpoint.revoked.filter((v) => v === "init-at-create")).toHaveLength(1);
    await webhookInvariants(path, "at-create", false);
  }, 120_000);

  it("killed during the propagation check: promoted stays promoted, nothing is revoked before the grace period, then once", async () => {
    const path = await bindWebhook("at-verify", "1h");
    const c = await startChild();
    // The propagation check's GET, not the pre-flight's GET of the rotate URL.
    killOn((req) => req.method === "GET" && req.url.startsWith("/health") && Boolean(child));
    await rotateOnChild(c, path);
    const run = await afterKill(c.proc, () => latestRunId(path));
    settle();
    expect(run).toMatchObject({ status: "running", step: "verify", old_version: 1, new_version: 2 });
    expect((await current(path)).version).toBe(2);
    await webhookInvariants(path, "at-verify", true);

    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runOf(run.id)).toMatchObject({ status: "waiting_grace", step: "revoke" });
    expect(endpoint.revoked).not.toContain("init-at-verify");
    expect((await tv.rest("GET", `/v1/secrets/${path}?stage=previous`, { token })).body.data).toEqual({ key: "init-at-verify" });

    clock.advance(HOUR + 1000);
    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runOf(run.id)).toMatchObject({ status: "succeeded", step: "done" });
    expect(endpoint.revoked.filter((v) => v === "init-at-verify")).toHaveLength(1);
    expect(endpoint.issuedFor.get(path)).toHaveLength(1);
    await webhookInvariants(path, "at-verify", false);
  }, 120_000);

  it("killed during the revoke call: the second replica revokes the old credential once, never the current one", async () => {
    const path = await bindWebhook("at-revoke", "0s");
    const c = await startChild();
    killOn((req) => req.json?.action === "revoke" && req.json.path === path);
    await rotateOnChild(c, path);
    const run = await afterKill(c.proc, () => latestRunId(path));
    settle();
    expect(run).toMatchObject({ status: "waiting_grace", step: "revoke", old_version: 1, new_version: 2 });
    expect(endpoint.revoked).not.toContain("init-at-revoke");

    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runOf(run.id)).toMatchObject({ status: "succeeded", step: "done" });
    expect(endpoint.revoked.filter((v) => v === "init-at-revoke")).toHaveLength(1);
    expect(endpoint.issuedFor.get(path)).toHaveLength(1);
    await webhookInvariants(path, "at-revoke", false);
  }, 120_000);

  it("aws_iam, killed right after IAM answered CreateAccessKey: the orphan key is cleaned up, one new key is left", async () => {
    const path = "kill/iam";
    const user = "kill-app";
    const seeded = iam.seedKey(user);
    const put = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { access_key_id: seeded.accessKeyId, secret_access_key: seeded.secretAccessKey } } });
    expect(put.status).toBe(201);
    const configured = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, {
      token,
      body: { provider: "aws_iam", config: { iam_user_name: user, region: "us-east-1", endpoint: iam.url }, grace_period: "1h" },
    });
    expect(configured.status, JSON.stringify(configured.body)).toBe(201);
    const c = await startChild();
    iam.onAnswered = (action) => {
      if (action === "CreateAccessKey" && child) child.child.kill("SIGKILL");
    };
    await rotateOnChild(c, path);
    const run = await afterKill(c.proc, () => latestRunId(path));
    iam.onAnswered = undefined;
    // Whether the child stored the key before it died is a race; either way the end state is the same.
    expect(["create", "test"]).toContain(run.step);
    expect(iam.keysOf(user)).toHaveLength(2);

    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runOf(run.id)).toMatchObject({ status: "waiting_grace", step: "revoke", old_version: 1 });
    const now = (await current(path)).data;
    expect(iam.keysOf(user).map((k) => k.accessKeyId).sort()).toEqual([seeded.accessKeyId, now.access_key_id].sort());

    clock.advance(HOUR + 1000);
    await tv.vault.rotationRunner.runDue(clock.now());
    expect(await runOf(run.id)).toMatchObject({ status: "succeeded", step: "done" });
    expect(iam.keysOf(user)).toEqual([{ accessKeyId: now.access_key_id, status: "Active" }]);
    expect(now.access_key_id).not.toBe(seeded.accessKeyId);
    await versionsAreWhole(path);
  }, 120_000);
});
