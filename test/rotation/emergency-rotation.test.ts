// Emergency rotation ("a credential leaked an hour after a rotation"): `POST /v1/secrets/{path}/rotate`
// with `emergency: true` is not refused while the previous run's old credential is in its grace
// period. With each provider stand-in (the webhook endpoint, the IAM-compatible endpoint, a SCRAM
// PostgreSQL cluster of this file's own, Stripe in supplied mode) the earlier credential is revoked
// at the provider first, the new one is created, tested and promoted, and with `grace_period: "0s"`
// the replaced one is revoked as soon as verify passes: only the new credential still works, and
// readers see only it. The answer, the run's steps, the audit rows and the events say what happened.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startFakeIam, type FakeIam } from "../support/fake-iam.js";
import { startFakeStripe, type FakeStripe } from "../support/fake-stripe.js";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../support/throwaway-postgres.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { REPLICA_ENV } from "./provider-replica.js";
import { longToken, outbox } from "./rotation-fixtures.js";

const TENANT = "emergency";
const HOOK_SECRET = "emergency-hook-secret";

async function loginAs(cluster: ThrowawayPostgres, username: string, password: string): Promise<string> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, database: "postgres", user: username, password });
  try {
    await client.connect();
    return (await client.query<{ user: string }>("select current_user as user")).rows[0]!.user;
  } catch (err) {
    return `refused ${(err as { code?: string }).code}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe("emergency rotation during the previous rotation's grace period", () => {
  const clock = createManualClock("2026-08-03T09:00:00Z");
  let tv: TestVault;
  let token: string;
  let endpoint: CredentialEndpoint;
  let iam: FakeIam;
  let stripe: FakeStripe;
  let cluster: ThrowawayPostgres;

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: REPLICA_ENV });
    token = await longToken(tv, TENANT);
    endpoint = await startCredentialEndpoint({ secret: HOOK_SECRET, initial: ["leaked-0"] });
    iam = await startFakeIam();
    stripe = await startFakeStripe();
    cluster = await startThrowawayPostgres();
  }, 180_000);
  afterAll(async () => {
    await tv?.close();
    await endpoint?.close();
    await iam?.close();
    await stripe?.close();
    await cluster?.stop();
  });

  const runDue = () => tv.vault.rotationRunner.runDue(clock.now());
  const rotate = (path: string, body: Record<string, unknown> = {}, as = token) => tv.rest("POST", `/v1/secrets/${path}/rotate`, { token: as, body });
  const read = async (path: string, query = "") => (await tv.rest("GET", `/v1/secrets/${path}${query}`, { token })).body;
  const runsOf = async (path: string) => (await tv.rest("GET", `/v1/rotation/secrets/${path}/runs`, { token })).body.data as any[];

  /** Binds `path`, rotates it once (the "scheduled rotation an hour ago") and lets the runner verify it: the old credential is now in its grace period. */
  async function rotatedOnce(path: string, data: Record<string, unknown>, binding: Record<string, unknown>, firstRotate: Record<string, unknown> = {}) {
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data } })).status).toBe(201);
    const bound = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, { token, body: { grace_period: "48h", propagation_check: { url: endpoint.healthUrl }, ...binding } });
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
    const first = await rotate(path, firstRotate);
    expect(first.body, JSON.stringify(first.body)).toMatchObject({ version: 2, previous_version: 1, emergency: false });
    await runDue(); // verified; waiting out the 48 h grace period
    expect((await runsOf(path))[0]).toMatchObject({ status: "waiting_grace", step: "revoke" });
    const refused = await rotate(path, firstRotate);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("failed_precondition");
    expect(refused.body.error.message).toContain("emergency: true");
  }

  /** The emergency call, its answer, run and records, common to every provider. */
  async function emergency(path: string, extra: Record<string, unknown> = {}) {
    const before = (await outbox(tv, TENANT)).at(-1)?.seq ?? 0;
    const res = await rotate(path, { emergency: true, reason: "key posted in a public channel", grace_period: "0s", ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ version: 3, previous_version: 2, emergency: true, revoked_version: 1 });
    expect(res.body.detail).toContain("version 1");
    expect(res.body.detail).toContain("version 2 was revoked once verify passed");
    const [latest, earlier] = await runsOf(path);
    expect(latest).toMatchObject({ status: "succeeded", step: "done", old_version: 2, new_version: 3 });
    expect(latest.steps.map((s: any) => s.step)).toEqual(["preflight", "revoke_previous", "create", "test", "promote", "verify", "revoke"]);
    expect(earlier).toMatchObject({ status: "superseded" });
    expect(earlier.steps.map((s: any) => `${s.step}:${s.status}`)).toEqual(expect.arrayContaining(["superseded:succeeded", "revoke:succeeded"]));
    // Readers see only the new credential: neither earlier version is readable any more.
    expect((await read(path, "?version=1")).error.code).toBe("version_not_found");
    expect((await read(path, "?version=2")).error.code).toBe("version_not_found");
    const events = (await outbox(tv, TENANT, before)).filter((e) => e.path === path);
    expect(events.map((e) => `${e.event_type}:${e.data.old_version}`)).toEqual(["rotation.revoked:1", "rotation.completed:2", "rotation.revoked:2"]);
    for (const e of events) expect(e.data).toMatchObject({ emergency: true, reason: "key posted in a public channel" });
    const audit = await tv.vault.db.selectFrom("audit_events").select(["action", "version", "outcome"]).where("target_tenant", "=", TENANT).where("path", "=", path).orderBy("id").execute();
    const actions = audit.map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["RotationRun.superseded", "RotationRun.emergency_start", "RotationRun.revoke", "RotateSecret"]));
    return res.body;
  }

  it("webhook: the leaked credential and the replaced one stop working at the endpoint, the new one works", async () => {
    const path = "emergency/webhook";
    await rotatedOnce(path, { api_key: "leaked-0" }, { provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials: { secret: HOOK_SECRET } });
    const [second] = endpoint.issuedFor.get(path)!;
    expect([...endpoint.valid].sort()).toEqual(["leaked-0", second].sort());
    await emergency(path);
    const [, third] = endpoint.issuedFor.get(path)!;
    expect([...endpoint.valid]).toEqual([third]);
    expect(endpoint.revoked).toEqual(["leaked-0", second]);
    expect((await read(path)).data).toEqual({ api_key: third });
  });

  it("needs admin besides secrets:rotate; without it nothing is revoked", async () => {
    const path = "emergency/webhook-scope";
    await rotatedOnce(path, { api_key: "scope-0" }, { provider: "webhook", config: { url: endpoint.url, field: "api_key" }, credentials: { secret: HOOK_SECRET } });
    const rotator = await tv.token({ tenantId: TENANT, scopes: ["secrets:rotate", "secrets:read"], ttlSeconds: 3600 });
    const denied = await rotate(path, { emergency: true, reason: "leak" }, rotator);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("access_denied");
    expect((await runsOf(path))[0]).toMatchObject({ status: "waiting_grace" });
  });

  it("aws_iam: the in-grace key is deleted first (two keys per user), the replaced key once verify passes", async () => {
    const path = "emergency/iam";
    const seeded = iam.seedKey("emergency-user");
    await rotatedOnce(
      path,
      { access_key_id: seeded.accessKeyId, secret_access_key: seeded.secretAccessKey },
      { provider: "aws_iam", config: { iam_user_name: "emergency-user", region: "us-east-1", endpoint: iam.url } },
    );
    const second = (await read(path)).data.access_key_id as string;
    expect(iam.keysOf("emergency-user").map((k) => k.accessKeyId).sort()).toEqual([seeded.accessKeyId, second].sort());
    await emergency(path);
    const third = (await read(path)).data.access_key_id as string;
    expect(iam.keysOf("emergency-user").map((k) => k.accessKeyId)).toEqual([third]);
  });

  it("postgres (SCRAM cluster, alternating roles): the leaked role's password is changed first, then the replaced one's", async () => {
    const path = "emergency/postgres";
    const superuser = new pg.Client({ connectionString: cluster.url });
    await superuser.connect();
    const suffix = randomBytes(4).toString("hex");
    const admin = { admin_username: `em_admin_${suffix}`, admin_password: randomBytes(12).toString("hex") };
    const [a, b] = [`em_a_${suffix}`, `em_b_${suffix}`];
    const leaked = randomBytes(12).toString("hex");
    await superuser.query(`create role ${admin.admin_username} login createrole password ${pg.escapeLiteral(admin.admin_password)}`);
    await superuser.query(`create role ${a} login password ${pg.escapeLiteral(leaked)}`);
    await superuser.query(`create role ${b} login password ${pg.escapeLiteral(randomBytes(12).toString("hex"))}`);
    await superuser.query(`grant ${a}, ${b} to ${admin.admin_username} with admin option`).catch(() => undefined);
    await superuser.end();
    await rotatedOnce(
      path,
      { username: a, password: leaked },
      { provider: "postgres", config: { host: cluster.host, port: cluster.port, database: "postgres", usernames: [a, b] }, credentials: admin },
    );
    const second = (await read(path)).data as { username: string; password: string };
    expect(second.username).toBe(b);
    expect(await loginAs(cluster, a, leaked), "in its grace period the leaked role still logs in").toBe(a);
    await emergency(path);
    const third = (await read(path)).data as { username: string; password: string };
    expect(third.username).toBe(a);
    expect(await loginAs(cluster, a, leaked)).toBe("refused 28P01");
    expect(await loginAs(cluster, b, second.password)).toBe("refused 28P01");
    expect(await loginAs(cluster, a, third.password)).toBe(a);
  });

  it("stripe supplied: the operator's new key is promoted at once and the answer says the rolled keys are expired in the Dashboard", async () => {
    const path = "emergency/stripe";
    const first = stripe.seedKey({ livemode: false });
    const second = stripe.seedKey({ livemode: false });
    await rotatedOnce(path, { api_key: first.token }, { provider: "stripe", config: { mode: "supplied", livemode: false, api_base: stripe.url } }, { new_value: { api_key: second.token } });
    const third = stripe.seedKey({ livemode: false });
    await emergency(path, { new_value: { api_key: third.token } });
    expect((await read(path)).data).toEqual({ api_key: third.token });
    const [latest, earlier] = await runsOf(path);
    expect(latest.steps.find((s: any) => s.step === "revoke_previous").detail).toContain("none in supplied mode");
    expect(earlier.steps.find((s: any) => s.step === "revoke").detail).toContain("none in supplied mode");
    const leaks = [...tv.logs, JSON.stringify(await runsOf(path)), JSON.stringify(await outbox(tv, TENANT))].join("\n");
    for (const key of [first.token, second.token, third.token]) expect(leaks).not.toContain(key);
  });

  it("a plain rotate takes grace_period 0s too: the replaced credential is revoked once verify passes", async () => {
    const path = "emergency/zero-grace";
    expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { api_key: "zero-0" } } })).status).toBe(201);
    expect((await tv.rest("PUT", `/v1/rotation/secrets/${path}`, { token, body: { provider: "webhook", config: { url: endpoint.url, revoke: true }, credentials: { secret: HOOK_SECRET } } })).status).toBe(201);
    const res = await rotate(path, { grace_period: "0s" });
    expect(res.body).toMatchObject({ version: 2, emergency: false, previous_version_readable_until: res.body.rotated_at });
    await runDue();
    expect((await runsOf(path))[0]).toMatchObject({ status: "succeeded", step: "done" });
    expect((await read(path, "?version=1")).error.code).toBe("version_not_found");
    const vaultOnly = "emergency/vault-only";
    expect((await tv.rest("PUT", `/v1/secrets/${vaultOnly}`, { token, body: { data: { password: "p1" } } })).status).toBe(201);
    const plain = await rotate(vaultOnly, { new_value: { password: "p2" }, grace_period: "0s" });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect((await read(vaultOnly, "?version=1")).error.code).toBe("version_not_found");
  });
});
