import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/cli.js";
import { commands } from "../../src/cli/commands/index.js";
import { createManualClock } from "../../src/clock.js";
import { listEvents } from "../../src/events/outbox-store.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";

// POST /v1/secrets:batchPut (BatchPutSecrets): one transaction for the whole batch, every item
// keeping what a single PUT guarantees.

describe("batch writes", () => {
  let tv: TestVault;
  let token: string;
  const tenant = "batch";
  const batch = (items: unknown[], as = token) => tv.rest("POST", "/v1/secrets:batchPut", { token: as, body: { items } });
  const snapshot = async () => ({
    secrets: Number((await tv.vault.db.selectFrom("secrets").select((eb) => eb.fn.countAll().as("n")).where("tenant_id", "=", tenant).executeTakeFirstOrThrow()).n),
    versions: Number((await tv.vault.db.selectFrom("secret_versions").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n),
    events: Number((await tv.vault.db.selectFrom("events").select((eb) => eb.fn.countAll().as("n")).where("tenant_id", "=", tenant).executeTakeFirstOrThrow()).n),
    audit: Number(
      (await tv.vault.db.selectFrom("audit_events").select((eb) => eb.fn.countAll().as("n")).where("target_tenant", "=", tenant).where("action", "like", "%BatchPut%").where("outcome", "=", "allowed").executeTakeFirstOrThrow()).n,
    ),
  });

  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_BATCH_PUT_MAX_ITEMS: "5" } });
    token = await tv.token({ tenantId: tenant, scopes: ["secrets:read", "secrets:write"] });
  });
  afterAll(async () => {
    await tv?.close();
  });

  it("creates and updates in one call, answering per item as PUT does, with one event and one audit entry per item in item order", async () => {
    expect((await tv.rest("PUT", "/v1/secrets/seed/existing", { token, body: { data: { v: "old" } } })).status).toBe(201);
    const before = await snapshot();
    const res = await batch([
      { path: "seed/a", data: { password: "canary-batch-a" }, secret_type: "json", metadata: { tags: ["t1", "t1"], description: "A" } },
      { path: "seed/existing", data: { v: "new" }, options: { cas: 1 } },
      { path: "seed/b", data: { password: "canary-batch-b" }, options: { cas: 0, max_versions: 2 } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      expect.objectContaining({ path: "seed/a", version: 1, created: true, secret_type: "json" }),
      expect.objectContaining({ path: "seed/existing", version: 2, created: false, previous_version: 1 }),
      expect.objectContaining({ path: "seed/b", version: 1, created: true }),
    ]);
    const read = await tv.rest("GET", "/v1/secrets/seed/existing", { token });
    expect(read.body).toMatchObject({ version: 2, data: { v: "new" } });
    const meta = await tv.rest("GET", "/v1/secrets/metadata/seed/a", { token });
    expect(meta.body).toMatchObject({ secret_type: "json", metadata: { tags: ["t1"], description: "A" } });
    expect((await tv.rest("GET", "/v1/secrets/seed/b", { token })).body.data).toEqual({ password: "canary-batch-b" });

    const after = await snapshot();
    expect(after.secrets - before.secrets).toBe(2);
    expect(after.versions - before.versions).toBe(3);
    expect(after.audit - before.audit).toBe(3);
    const events = (await listEvents(tv.vault.db, tenant)).slice(-3);
    expect(events.map((e) => [e.event_type, e.path, (e.data as { version: number }).version])).toEqual([
      ["secret.created", "seed/a", 1],
      ["secret.updated", "seed/existing", 2],
      ["secret.created", "seed/b", 1],
    ]);
    const audit = await tv.vault.db.selectFrom("audit_events").select(["path", "version", "outcome"]).where("target_tenant", "=", tenant).where("action", "like", "%BatchPut%").orderBy("id").execute();
    expect(audit.slice(-3)).toEqual([
      { path: "seed/a", version: 1, outcome: "allowed" },
      { path: "seed/existing", version: 2, outcome: "allowed" },
      { path: "seed/b", version: 1, outcome: "allowed" },
    ]);
    // Values never reach the events or the audit log, and are sealed at rest.
    expect(JSON.stringify(events)).not.toContain("canary-batch");
    expect(JSON.stringify(await tv.vault.db.selectFrom("audit_events").selectAll().execute())).not.toContain("canary-batch");
    const stored = await tv.vault.db.selectFrom("secret_versions").select("ciphertext").execute();
    expect(stored.some((r) => Buffer.from(r.ciphertext).includes("canary-batch"))).toBe(false);
  });

  it.each([
    ["a bad path", { path: "bad//path", data: { x: 1 } }, "invalid_path", /^items\[1\]\.path: invalid secret path/],
    ["data missing", { path: "ok/2" }, "invalid_request", /^items\[1\]: data is required/],
    ["a bad max_versions", { path: "ok/2", data: { x: 1 }, options: { max_versions: 0 } }, "invalid_request", /^items\[1\]: options\.max_versions/],
    ["a bad secret_type", { path: "ok/2", data: { x: 1 }, secret_type: "nope" }, "invalid_request", /^items\[1\]: secret_type/],
    ["a stale CAS", { path: "seed/existing", data: { x: 1 }, options: { cas: 1 } }, "version_conflict", /^items\[1\]: check-and-set failed/],
    ["CAS on a missing secret", { path: "ok/new", data: { x: 1 }, options: { cas: 3 } }, "version_conflict", /^items\[1\]: check-and-set/],
    ["the same path twice", { path: "ok/1", data: { x: 2 } }, "invalid_request", /^items\[1\]\.path: the path of items\[0\] again/],
  ])("refuses the whole batch for %s in one item, naming the item, and writes nothing", async (_name, bad, code, message) => {
    const before = await snapshot();
    const res = await batch([{ path: "ok/1", data: { x: 1 } }, bad, { path: "ok/3", data: { x: 3 } }]);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
    expect(await snapshot()).toEqual(before);
    expect((await tv.rest("GET", "/v1/secrets/ok/1", { token })).status).toBe(404);
  });

  it("refuses an empty batch and one over SCAIVAULT_BATCH_PUT_MAX_ITEMS", async () => {
    expect((await batch([])).body.error.message).toMatch(/at least one item/);
    const six = Array.from({ length: 6 }, (_, i) => ({ path: `many/${i}`, data: { i } }));
    const res = await batch(six);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/at most 5 items/);
    expect((await tv.rest("GET", "/v1/secrets/many/0", { token })).status).toBe(404);
  });

  it("keeps cas_required, a deleted secret's path and max_versions pruning per item", async () => {
    expect((await tv.rest("PUT", "/v1/secrets/prune/x", { token, body: { data: { n: 1 }, options: { max_versions: 2 } } })).status).toBe(201);
    for (const n of [2, 3]) expect((await batch([{ path: "prune/x", data: { n } }])).status).toBe(200);
    const versions = await tv.rest("GET", "/v1/secrets/prune/x/versions", { token });
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([3, 2]);

    await tv.vault.db.updateTable("secrets").set({ cas_required: true }).where("tenant_id", "=", tenant).where("path", "=", "prune/x").execute();
    const refused = await batch([{ path: "prune/x", data: { n: 4 } }]);
    expect(refused.body.error).toMatchObject({ code: "invalid_request", message: expect.stringMatching(/^items\[0\]: check-and-set parameter required/) });
    expect((await batch([{ path: "prune/x", data: { n: 4 }, options: { cas: 3 } }])).status).toBe(200);

    const deleter = await tv.token({ tenantId: tenant, scopes: ["secrets:delete"] });
    expect((await tv.rest("DELETE", "/v1/secrets/seed/b", { token: deleter })).status).toBe(200);
    const deleted = await batch([{ path: "seed/b", data: { v: 1 } }]);
    expect(deleted.body.error).toMatchObject({ code: "secret_exists", message: expect.stringMatching(/^items\[0\]:/) });
  });

  it("scaivault secrets import FILE writes a JSON file of path -> data in batches; a bad batch stops it and names its item", async () => {
    const home = await mkdtemp(join(tmpdir(), "scaivault-import-"));
    try {
      const run = async (args: string[]) => {
        let stdout = "";
        let stderr = "";
        const stdin = Object.assign(new PassThrough(), { isTTY: false });
        const env = { SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: token, SCAIVAULT_CONFIG: join(home, "config.json") };
        const code = await runCli(commands, args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin, env });
        return { code, stdout, stderr };
      };
      const file = join(home, "seed.json");
      const seed = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`import/s${i}`, { password: `p${i}` }]));
      await writeFile(file, JSON.stringify(seed), { mode: 0o600 });
      const ok = await run(["secrets", "import", file, "--batch", "3"]);
      expect([ok.code, ok.stdout.trim()]).toEqual([0, "imported 7 secrets (7 created, 0 updated)"]);
      expect((await tv.rest("GET", "/v1/secrets/import/s6", { token })).body.data).toEqual({ password: "p6" });
      const again = await run(["secrets", "import", file, "--batch", "5", "--json"]);
      expect(JSON.parse(again.stdout)).toEqual({ imported: 7, created: 0, updated: 7 });

      await writeFile(file, JSON.stringify({ "import/t0": { a: 1 }, "import/t1": { a: 1 }, "bad//path": { a: 1 } }), { mode: 0o600 });
      const bad = await run(["secrets", "import", file, "--batch", "2"]);
      expect(bad.code).not.toBe(0);
      expect(bad.stdout).toContain("imported 2 of 3 before the failing batch");
      expect(bad.stderr).toMatch(/items\[0\]\.path: invalid secret path/);
      expect((await tv.rest("GET", "/v1/secrets/import/t1", { token })).status).toBe(200);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("needs secrets:write", async () => {
    const reader = await tv.token({ tenantId: tenant, scopes: ["secrets:read"] });
    expect((await batch([{ path: "nope/1", data: { x: 1 } }], reader)).status).toBe(403);
  });

  it("concurrent batches with the same CAS: exactly one wins each secret, versions never collide", async () => {
    const paths = ["race/1", "race/2", "race/3"];
    expect((await batch(paths.map((path) => ({ path, data: { n: 0 } })))).status).toBe(200);
    const attempts = await Promise.all(Array.from({ length: 4 }, (_, n) => batch(paths.map((path) => ({ path, data: { n: n + 1 }, options: { cas: 1 } })))));
    expect(attempts.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of attempts.filter((a) => a.status !== 200)) expect(r.body.error.code).toBe("version_conflict");
    for (const path of paths) expect((await tv.rest("GET", `/v1/secrets/${path}`, { token })).body.version).toBe(2);
    // Without CAS every batch lands, each a version of its own.
    const free = await Promise.all(Array.from({ length: 4 }, (_, n) => batch(paths.map((path) => ({ path, data: { n } })))));
    expect(free.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const versions = free.map((r) => r.body.results[0].version).sort();
    expect(versions).toEqual([3, 4, 5, 6]);
  });

  it("is served over gRPC as BatchPutSecrets, with the item's error", async () => {
    const client = grpcClient(tv.port, "SecretsService", "secrets.proto");
    try {
      const ok = await unary(client, "BatchPutSecrets", { items: [{ path: "grpc/a", data: { fields: { k: { stringValue: "v" } } } }] }, token);
      expect(ok.results).toEqual([expect.objectContaining({ path: "grpc/a", version: 1, created: true })]);
      const err = await unary(client, "BatchPutSecrets", { items: [{ path: "grpc/b", data: { fields: { k: { stringValue: "v" } } } }, { path: "grpc/a", data: { fields: {} }, options: { cas: 7 } }] }, token).catch((e) => e);
      expect(reasonOf(err)).toBe("version_conflict");
      expect(decodeURIComponent(err.details)).toMatch(/^items\[1\]: check-and-set failed/);
      expect((await tv.rest("GET", "/v1/secrets/grpc/b", { token })).status).toBe(404);
    } finally {
      client.close();
    }
  });
});

describe("batch writes complete event-driven rotations", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let tv: TestVault;
  let token: string;

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: { SCAIVAULT_SCHEDULER_ENABLED: "false" } });
    token = await tv.token({ tenantId: "batch-rot", scopes: ["admin"], ttlSeconds: 400 * 86400 });
  });
  afterAll(async () => {
    await tv?.close();
  });

  it("a batch that writes a due secret completes its pending rotation; the replaced version keeps the grace period only", async () => {
    const policy = await tv.rest("POST", "/v1/rotation/policies", { token, body: { name: "ev-30d", interval: "30d", grace_period: "48h", auto_generate: false } });
    expect(policy.status).toBe(201);
    const seeded = await tv.rest("POST", "/v1/secrets:batchPut", {
      token,
      body: { items: [{ path: "rot/a", data: { k: "1" }, options: { rotation_policy_id: policy.body.id } }, { path: "rot/b", data: { k: "1" } }] },
    });
    expect(seeded.status).toBe(200);
    clock.set(new Date(clock.now().getTime() + 31 * 86_400_000));
    await tv.vault.scheduler.runSchedulerTick();
    const pending = await tv.rest("GET", "/v1/rotation/pending", { token });
    expect(JSON.stringify(pending.body)).toContain("rot/a");

    const written = await tv.rest("POST", "/v1/secrets:batchPut", { token, body: { items: [{ path: "rot/b", data: { k: "2" } }, { path: "rot/a", data: { k: "2" } }] } });
    expect(written.status).toBe(200);
    expect(JSON.stringify((await tv.rest("GET", "/v1/rotation/pending", { token })).body)).not.toContain("rot/a");
    const history = await tv.rest("GET", `/v1/rotation/policies/${policy.body.id}/history`, { token });
    expect(JSON.stringify(history.body)).toMatch(/"status":"success"/);
    const v1 = await tv.vault.db
      .selectFrom("secret_versions")
      .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
      .select(["secrets.path", "secret_versions.readable_until"])
      .where("secrets.tenant_id", "=", "batch-rot")
      .where("secret_versions.version", "=", 1)
      .orderBy("secrets.path")
      .execute();
    expect(v1.map((r) => [r.path, r.readable_until?.getTime() ?? null])).toEqual([
      ["rot/a", clock.now().getTime() + 48 * 3600_000],
      ["rot/b", null],
    ]);
  });
});
