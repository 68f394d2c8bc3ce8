import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditWriter } from "../../src/audit/audit-writer.js";
import { createLogger } from "../../src/log.js";
import { startTestVault, testJwtSecret, type TestVault } from "../support/vault.js";

describe("one tenant cannot fail another's audited reads", () => {
  let tv: TestVault;
  beforeAll(async () => {
    tv = await startTestVault();
  });
  afterAll(async () => tv?.close());

  it("80 concurrent reads by tenant A all succeed beside a poisoned call by tenant B", async () => {
    const a = await tv.token({ tenantId: "tenant-a", scopes: ["secrets:read", "secrets:write"] });
    expect((await tv.rest("PUT", "/v1/secrets/app/db", { token: a, body: { data: { v: 1 } } })).status).toBe(201);
    const now = Math.floor(Date.now() / 1000);
    // A validly signed token whose sub would be refused by PostgreSQL's text type.
    const poisoned = await new SignJWT({ tenant_id: "tenant-b", scope: "secrets:read" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("evil\u0000actor")
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(testJwtSecret));
    const reads = Array.from({ length: 80 }, () => tv.rest("GET", "/v1/secrets/app/db", { token: a }));
    const bad = tv.rest("GET", "/v1/secrets/app/db", { token: poisoned });
    const results = await Promise.all(reads);
    expect(results.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect((await bad).status).toBe(401);
    const audit = await tv.rest("GET", "/v1/audit/events?action=GetSecret&limit=200", { token: await tv.token({ tenantId: "tenant-a", scopes: ["audit:read"] }) });
    expect(audit.body.data.filter((e: any) => e.outcome === "allowed")).toHaveLength(80);
  });

  it("a batch the database refuses is written entry by entry: only the bad entry fails", async () => {
    const logs: string[] = [];
    const writer = createAuditWriter({ db: tv.vault.db, logger: createLogger({ write: (l) => logs.push(l) }), maxBatch: 500 });
    const entry = (actor: string, requestId: string) => ({
      time: new Date(),
      requestId,
      actor,
      actingTenant: "batch-t",
      targetTenant: "batch-t",
      action: "GetSecret",
      outcome: "allowed",
    });
    // Bypassing token checks on purpose: the writer itself must contain a bad entry.
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => writer.append(entry("good", `good-${i}`))),
      writer.append(entry("bad\u0000actor", "bad-1")),
    ]);
    expect(outcomes.slice(0, 20).map((o) => o.status)).toEqual(Array(20).fill("fulfilled"));
    expect(outcomes[20]!.status).toBe("rejected");
    const rows = await tv.vault.db.selectFrom("audit_events").select("request_id").where("acting_tenant", "=", "batch-t").execute();
    expect(rows.map((r) => r.request_id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `good-${i}`).sort());
  });

  it("stores a lone surrogate in a subject, and a NUL in a named path, as U+FFFD", async () => {
    const writer = createAuditWriter({ db: tv.vault.db, logger: createLogger({ level: "error" }), maxBatch: 500 });
    await writer.append({
      time: new Date(),
      requestId: "odd-text-1",
      actor: "half\ud800pair",
      actingTenant: "odd-text-t",
      targetTenant: "odd-text-t",
      action: "GetSecret",
      path: "app/\u0000x\udc00",
      version: 3,
      outcome: "not_found",
    });
    const row = await tv.vault.db.selectFrom("audit_events").selectAll().where("request_id", "=", "odd-text-1").executeTakeFirstOrThrow();
    expect(row).toMatchObject({ actor: "half\uFFFDpair", path: "app/\uFFFDx\uFFFD", version: 3, outcome: "not_found", acting_tenant: "odd-text-t" });
  });
});
