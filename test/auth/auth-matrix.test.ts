import { generateKeyPairSync } from "node:crypto";
import { SignJWT, UnsecuredJWT, exportJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, testJwtSecret, type TestVault } from "../support/vault.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("authentication and authorisation", () => {
  let tv: TestVault;
  beforeAll(async () => {
    tv = await startTestVault();
    const admin = await tv.token({ tenantId: "t1" });
    await tv.rest("PUT", "/v1/secrets/shared/x", { token: admin, body: { data: { v: "t1-value" } } });
  });
  afterAll(async () => tv?.close());

  const now = () => Math.floor(Date.now() / 1000);
  const claims = { tenant_id: "t1", scope: "admin" };

  it("rejects ~40 bad tokens with 401 unauthenticated and never 5xx", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pubPem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const hs = (c: Record<string, unknown>, secret = testJwtSecret) => new SignJWT(c).setProtectedHeader({ alg: "HS256" }).sign(enc(secret));
    const base = { ...claims, sub: "u", exp: now() + 600 };
    const bad: [string, string | Promise<string>][] = [
      ["none", ""],
      ["garbage", "not-a-token"],
      ["three dots", "a.b.c"],
      ["alg none", new UnsecuredJWT(base).encode()],
      ["wrong secret", hs(base, "another-secret-of-at-least-32-bytes!!!")],
      ["expired", hs({ ...base, exp: now() - 3600 })],
      ["missing exp", hs({ ...claims, sub: "u" })],
      ["future nbf", hs({ ...base, nbf: now() + 3600 })],
      ["no tenant", hs({ sub: "u", scope: "admin", exp: now() + 600 })],
      ["bad tenant", hs({ ...base, tenant_id: "a/b" })],
      ["tenant number", hs({ ...base, tenant_id: 7 })],
      ["RS256 with unknown key", new SignJWT(base).setProtectedHeader({ alg: "RS256" }).sign(privateKey)],
      ["HS256 signed with a public key", hs(base, pubPem)],
      ["oversized", hs({ ...base, pad: "x".repeat(10000) })],
      ["bad partner", hs({ ...base, partner_id: "p 1" })],
    ];
    for (let i = 0; i < 25; i++) bad.push([`truncated ${i}`, hs(base).then((t) => t.slice(0, t.length - 1 - i))]);
    const tokens = await Promise.all(bad.map(([, token]) => token));
    // 40 different tokens, so the loop below really tries 40 cases.
    expect(new Set(tokens).size).toBe(40);
    const answers: string[] = [];
    for (const [i, token] of tokens.entries()) {
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      const res = await tv.rest("GET", "/v1/secrets/shared/x", { headers });
      answers.push(`${bad[i]![0]}: ${res.status} ${res.body?.error?.code}`);
    }
    expect(answers).toEqual(bad.map(([name]) => `${name}: 401 unauthenticated`));
    const lowercase = await tv.rest("GET", "/v1/secrets/shared/x", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(lowercase.status).toBe(401);
    await exportJWK(publicKey);
  });

  it("accepts a valid token and answers 403 for a missing scope", async () => {
    const reader = await tv.token({ tenantId: "t1", scopes: ["secrets:read"] });
    expect((await tv.rest("GET", "/v1/secrets/shared/x", { token: reader })).status).toBe(200);
    const nobody = await tv.token({ tenantId: "t1", scopes: ["audit:read"] });
    const res = await tv.rest("GET", "/v1/secrets/shared/x", { token: nobody });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("access_denied");
  });

  it("isolates tenants: reads, lists, prefixes, cursors and guessed paths show nothing of another tenant", async () => {
    const other = await tv.token({ tenantId: "t2" });
    const read = await tv.rest("GET", "/v1/secrets/shared/x", { token: other });
    expect(read.status).toBe(404);
    expect(read.body.error.code).toBe("secret_not_found");
    expect(JSON.stringify(read.body)).not.toContain("t1");
    const list = await tv.rest("GET", "/v1/secrets?prefix=shared/", { token: other });
    expect(list.body.total_count).toBe(0);
    const t1 = await tv.token({ tenantId: "t1" });
    for (let i = 0; i < 3; i++) await tv.rest("PUT", `/v1/secrets/pg/${i}`, { token: t1, body: { data: { i } } });
    const page = await tv.rest("GET", "/v1/secrets?limit=1", { token: t1 });
    expect(page.body.has_more).toBe(true);
    const reused = await tv.rest("GET", `/v1/secrets?limit=50&cursor=${page.body.cursor}`, { token: other });
    expect(reused.body.secrets).toEqual([]);
    for (const path of ["/v1/secrets/metadata/shared/x", "/v1/secrets/shared/x/versions"]) {
      expect((await tv.rest("GET", path, { token: other })).body.error.code).toBe("secret_not_found");
    }
    expect((await tv.rest("DELETE", "/v1/secrets/shared/x", { token: other })).body.error.code).toBe("secret_not_found");
    expect((await tv.rest("GET", "/v1/secrets/shared/x", { token: t1 })).status).toBe(200);
  });

  it("lets partner admins act on their partner's tenants only, via /v1/t/{tenant}/", async () => {
    // The operator registers which partner each tenant belongs to; the tenants' tokens decide nothing.
    const operator = await tv.token({ tenantId: "ops", scopes: ["platform:admin"] });
    expect((await tv.rest("PUT", "/v1/tenants/tnt_acme_dev", { token: operator, body: { partner_id: "p1" } })).status).toBe(201);
    expect((await tv.rest("PUT", "/v1/tenants/tnt_other", { token: operator, body: { partner_id: "p2" } })).status).toBe(201);
    const tA = await tv.token({ tenantId: "tnt_acme_dev", partnerId: "p1", scopes: ["admin"] });
    await tv.rest("PUT", "/v1/secrets/app/db/password", { token: tA, body: { data: { pw: "a" } } });
    const tB = await tv.token({ tenantId: "tnt_other", partnerId: "p2", scopes: ["admin"] });
    await tv.rest("PUT", "/v1/secrets/app/db/password", { token: tB, body: { data: { pw: "b" } } });

    const p1Admin = await tv.token({ tenantId: "p1_home", partnerId: "p1", partnerAdmin: true, scopes: ["admin"], sub: "alice" });
    const ok = await tv.rest("GET", "/v1/t/tnt_acme_dev/secrets/app/db/password", { token: p1Admin });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ pw: "a" });
    const cross = await tv.rest("GET", "/v1/t/tnt_other/secrets/app/db/password", { token: p1Admin });
    expect(cross.status).toBe(403);
    expect(cross.body.error.code).toBe("access_denied");
    const plain = await tv.token({ tenantId: "p1_home", partnerId: "p1", scopes: ["admin"] });
    expect((await tv.rest("GET", "/v1/t/tnt_acme_dev/secrets/app/db/password", { token: plain })).status).toBe(403);

    const audit = await tv.rest("GET", "/v1/audit/events?action=GetSecret", { token: tA });
    const entry = audit.body.data.find((e: any) => e.actor === "alice");
    expect(entry).toMatchObject({ acting_tenant: "p1_home", target_tenant: "tnt_acme_dev", outcome: "allowed", path: "app/db/password" });
  });

  it("shares partner secrets with every tenant the registry places under the partner; partner admins write", async () => {
    const operator = await tv.token({ tenantId: "ops", scopes: ["platform:admin"] });
    for (const [tenant, partner] of [["tnt_acme_dev", "p1"], ["tnt_registered_only", "p1"], ["tnt_moved", "p2"]]) {
      expect((await tv.rest("PUT", `/v1/tenants/${tenant}`, { token: operator, body: { partner_id: partner } })).status).toBeLessThan(300);
    }
    const p1Admin = await tv.token({ tenantId: "p1_home", partnerId: "p1", partnerAdmin: true, scopes: ["admin"] });
    const put = await tv.rest("PUT", "/v1/partner/secrets/shared/trust-anchor", {
      token: p1Admin,
      body: { data: { cert_pem: "..." }, secret_type: "certificate" },
    });
    expect(put.status).toBe(201);
    const read = (token: string) => tv.rest("GET", "/v1/partner/secrets/shared/trust-anchor", { token });
    const member = await tv.token({ tenantId: "tnt_acme_dev", partnerId: "p1", scopes: ["secrets:read"] });
    expect((await read(member)).status).toBe(200);
    expect((await read(member)).body).toMatchObject({ secret_type: "certificate", data: { cert_pem: "..." } });
    // The registry decides, not the claim: a registered tenant whose token names no partner reads...
    expect((await read(await tv.token({ tenantId: "tnt_registered_only", scopes: ["secrets:read"] }))).status).toBe(200);
    // ...and tokens naming p1 for tenants the registry does not place under p1 read nothing.
    for (const tenantId of ["tnt_unregistered", "tnt_moved"]) {
      const claimsP1 = await tv.token({ tenantId, partnerId: "p1", scopes: ["secrets:read"] });
      expect((await read(claimsP1)).body.error.code).toBe("secret_not_found");
    }
    const outsider = await tv.token({ tenantId: "tnt_other", partnerId: "p2", scopes: ["secrets:read"] });
    expect((await read(outsider)).body.error.code).toBe("secret_not_found");
    // Moving a tenant to another partner moves what it reads at once.
    expect((await tv.rest("PUT", "/v1/tenants/tnt_acme_dev", { token: operator, body: { partner_id: "p2" } })).status).toBe(200);
    expect((await read(member)).body.error.code).toBe("secret_not_found");
    const memberWrite = await tv.token({ tenantId: "tnt_acme_dev", partnerId: "p1", scopes: ["admin"] });
    expect((await tv.rest("PUT", "/v1/partner/secrets/shared/trust-anchor", { token: memberWrite, body: { data: { x: 1 } } })).status).toBe(403);
  });

  it("audits denials with the actor and outcome", async () => {
    const nobody = await tv.token({ tenantId: "t9", scopes: [], sub: "mallory" });
    await tv.rest("GET", "/v1/secrets/anything", { token: nobody });
    const auditor = await tv.token({ tenantId: "t9", scopes: ["audit:read"] });
    const res = await tv.rest("GET", "/v1/audit/events?actor=mallory", { token: auditor });
    expect(res.status).toBe(200);
    expect(res.body.data[0]).toMatchObject({ actor: "mallory", action: "GetSecret", outcome: "access_denied", target_tenant: "t9" });
  });
});
