import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";

describe("tenant registry", () => {
  let tv: TestVault;
  let operator: string;
  beforeAll(async () => {
    tv = await startTestVault();
    operator = await tv.token({ tenantId: "ops", scopes: ["platform:admin"], sub: "operator" });
  });
  afterAll(async () => tv?.close());

  it("registers, moves, reads, lists and deletes tenants over REST, with 201 then 200", async () => {
    const first = await tv.rest("PUT", "/v1/tenants/acme", { token: operator, body: { partner_id: "p1", display_name: "Acme" } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ tenant_id: "acme", partner_id: "p1", display_name: "Acme" });
    const moved = await tv.rest("PUT", "/v1/tenants/acme", { token: operator, body: { partner_id: "p2" } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ tenant_id: "acme", partner_id: "p2", display_name: null });
    expect((await tv.rest("GET", "/v1/tenants/acme", { token: operator })).body.partner_id).toBe("p2");
    await tv.rest("PUT", "/v1/tenants/beta", { token: operator, body: { partner_id: "p2" } });
    await tv.rest("PUT", "/v1/tenants/gamma", { token: operator, body: { partner_id: "p3" } });
    const listed = await tv.rest("GET", "/v1/tenants?partner_id=p2", { token: operator });
    expect(listed.body.data.map((t: any) => t.tenant_id)).toEqual(["acme", "beta"]);
    const paged = await tv.rest("GET", "/v1/tenants?limit=2", { token: operator });
    expect(paged.body).toMatchObject({ has_more: true });
    const rest = await tv.rest("GET", `/v1/tenants?limit=2&cursor=${paged.body.cursor}`, { token: operator });
    expect(rest.body).toMatchObject({ has_more: false, cursor: null });
    expect(rest.body.data.map((t: any) => t.tenant_id)).toEqual(["gamma"]);

    const deleted = await tv.rest("DELETE", "/v1/tenants/gamma", { token: operator });
    expect(deleted.body).toEqual({ tenant_id: "gamma", deleted: true });
    expect((await tv.rest("DELETE", "/v1/tenants/gamma", { token: operator })).body.deleted).toBe(false);
    const gone = await tv.rest("GET", "/v1/tenants/gamma", { token: operator });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("tenant_not_found");

    const audit = await tv.rest("GET", "/v1/audit/events?action=PutTenant", { token: await tv.token({ tenantId: "acme", scopes: ["audit:read"] }) });
    expect(audit.body.data.map((e: any) => `${e.actor}:${e.acting_tenant}:${e.target_tenant}`)).toEqual(["operator:ops:acme", "operator:ops:acme"]);
  });

  it("refuses a tenant's admin, bad ids and partner admins outside their partner", async () => {
    const tenantAdmin = await tv.token({ tenantId: "acme", scopes: ["admin"] });
    const denied = await tv.rest("PUT", "/v1/tenants/acme", { token: tenantAdmin, body: { partner_id: "evil" } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("access_denied");
    expect((await tv.rest("GET", "/v1/tenants", { token: tenantAdmin })).status).toBe(403);
    const bad = await tv.rest("PUT", "/v1/tenants/acme", { token: operator, body: { partner_id: "no spaces" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("partner_id");

    await tv.rest("PUT", "/v1/tenants/own1", { token: operator, body: { partner_id: "px" } });
    const pxAdmin = await tv.token({ tenantId: "px-home", scopes: [], partnerId: "px", partnerAdmin: true });
    const own = await tv.rest("GET", "/v1/tenants?partner_id=px", { token: pxAdmin });
    expect(own.status).toBe(200);
    expect(own.body.data.map((t: any) => t.tenant_id)).toEqual(["own1"]);
    expect((await tv.rest("GET", "/v1/tenants?partner_id=p2", { token: pxAdmin })).status).toBe(403);
    expect((await tv.rest("GET", "/v1/tenants", { token: pxAdmin })).status).toBe(403);
  });

  it("membership comes from the registry only: a token naming a partner enrols nothing", async () => {
    const tenantToken = await tv.token({ tenantId: "learner", scopes: ["secrets:write", "secrets:read"], partnerId: "pl" });
    expect((await tv.rest("PUT", "/v1/secrets/app/x", { token: tenantToken, body: { data: { v: 1 } } })).status).toBe(201);
    const plAdmin = await tv.token({ tenantId: "pl-home", scopes: ["secrets:read"], partnerId: "pl", partnerAdmin: true });
    expect((await tv.rest("GET", "/v1/t/learner/secrets/app/x", { token: plAdmin })).status).toBe(403);

    await tv.rest("PUT", "/v1/tenants/learner", { token: operator, body: { partner_id: "pl" } });
    const allowed = await tv.rest("GET", "/v1/t/learner/secrets/app/x", { token: plAdmin });
    expect(allowed.status).toBe(200);
    expect(allowed.body.data).toEqual({ v: 1 });

    await tv.rest("PUT", "/v1/tenants/learner", { token: operator, body: { partner_id: "other" } });
    expect((await tv.rest("GET", "/v1/t/learner/secrets/app/x", { token: plAdmin })).status).toBe(403);
    await tv.rest("DELETE", "/v1/tenants/learner", { token: operator });
    const otherAdmin = await tv.token({ tenantId: "o-home", scopes: ["secrets:read"], partnerId: "other", partnerAdmin: true });
    expect((await tv.rest("GET", "/v1/t/learner/secrets/app/x", { token: otherAdmin })).status).toBe(403);
  });

  it("serves the registry over gRPC and Connect too", async () => {
    const client = grpcClient(tv.port, "TenantService" as never, "tenants.proto");
    try {
      const put = await unary(client, "PutTenant", { tenant_id: "grpc-t", partner_id: "pg" }, operator);
      expect(put).toMatchObject({ tenant_id: "grpc-t", partner_id: "pg" });
      const err = await unary(client, "GetTenant", { tenant_id: "nobody" }, operator).catch((e) => e);
      expect(reasonOf(err)).toBe("tenant_not_found");
    } finally {
      client.close();
    }
    const res = await fetch(`${tv.baseUrl}/scaivault.v1.TenantService/GetTenant`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${operator}` },
      body: JSON.stringify({ tenant_id: "grpc-t" }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tenant_id: "grpc-t", partner_id: "pg" });
  });
});

// Two replicas on one database need PostgreSQL (an embedded database belongs to one process).
describe.runIf(testDatabaseKind === "postgres")("tenant registry across replicas", () => {
  const vaults: TestVault[] = [];
  afterAll(async () => {
    for (const v of vaults.reverse()) await v.close();
  });

  it("a move made on one replica is enforced by the other within a second", async () => {
    const a = await startTestVault();
    vaults.push(a);
    const b = await startTestVault({ reuse: { dataDir: a.dataDir, databaseUrl: a.databaseUrl } });
    vaults.unshift(b);
    const operator = await a.token({ tenantId: "ops", scopes: ["platform:admin"] });
    const owner = await a.token({ tenantId: "mover", scopes: ["secrets:write"] });
    expect((await a.rest("PUT", "/v1/secrets/app/x", { token: owner, body: { data: { v: 1 } } })).status).toBe(201);
    expect((await a.rest("PUT", "/v1/tenants/mover", { token: operator, body: { partner_id: "old" } })).status).toBe(201);
    const oldAdmin = await a.token({ tenantId: "old-home", scopes: ["secrets:read"], partnerId: "old", partnerAdmin: true });
    const newAdmin = await a.token({ tenantId: "new-home", scopes: ["secrets:read"], partnerId: "new", partnerAdmin: true });
    // Both replicas have now answered (and cached) the old relation.
    await vi.waitFor(async () => expect((await b.rest("GET", "/v1/t/mover/secrets/app/x", { token: oldAdmin })).status).toBe(200), { timeout: 1000, interval: 50 });
    expect((await a.rest("GET", "/v1/t/mover/secrets/app/x", { token: oldAdmin })).status).toBe(200);
    expect((await b.rest("GET", "/v1/t/mover/secrets/app/x", { token: newAdmin })).status).toBe(403);

    expect((await a.rest("PUT", "/v1/tenants/mover", { token: operator, body: { partner_id: "new" } })).status).toBe(200);
    for (const replica of [a, b]) {
      await vi.waitFor(
        async () => {
          expect((await replica.rest("GET", "/v1/t/mover/secrets/app/x", { token: oldAdmin })).status).toBe(403);
          expect((await replica.rest("GET", "/v1/t/mover/secrets/app/x", { token: newAdmin })).status).toBe(200);
        },
        { timeout: 1000, interval: 50 },
      );
    }
  });
});
