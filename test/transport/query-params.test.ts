import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

type Schema = { type?: string; format?: string; enum?: string[] };
type Parameter = { name: string; in: string; schema?: Schema & { items?: Schema } };

/** A value of the parameter's type, good enough to get past query parsing. */
function sampleValue(p: Parameter): string {
  const schema = p.schema?.items ?? p.schema ?? {};
  if (schema.enum?.length) return schema.enum.find((v) => !/unspecified/i.test(v)) ?? schema.enum[0]!;
  if (schema.type === "integer" || schema.type === "number") return "1";
  if (schema.type === "boolean") return "true";
  if (schema.format === "date-time") return "2026-01-01T00:00:00Z";
  if (schema.format === "duration" || p.name.endsWith("interval")) return "1h";
  return "app/";
}

/**
 * Every REST route of the real service, as its OpenAPI document lists them (both databases):
 * a query parameter the route does not take is `invalid_request` naming it, never dropped; the
 * parameters the document lists are taken. The Vault dialect is not among these routes (it
 * answers in Vault's shapes: test/vault-dialect/).
 */
describe("query parameters on every REST route", () => {
  let tv: TestVault;
  let token: string;
  let routes: Array<{ method: string; path: string; url: string; query: Parameter[] }>;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "acme", scopes: ["admin", "audit:read"] });
    const doc = (await (await fetch(`${tv.baseUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, { parameters?: Parameter[] }>> };
    routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        url: path.replace("{path}", "qp/app").replace("{secret_path}", "qp%2Fapp").replace(/\{[a-z_]+\}/g, "qp_x"),
        query: (op.parameters ?? []).filter((p) => p.in === "query"),
      })),
    );
  });
  afterAll(async () => {
    await tv?.close();
  });
  const send = (method: string, url: string) => tv.rest(method, url, { token, ...(method === "GET" || method === "DELETE" ? {} : { body: {} }) });

  it("every list route, and every other route, refuses an unknown query parameter with invalid_request naming it", async () => {
    const lists = routes.filter((r) => r.method === "GET" && r.query.some((p) => p.name === "limit" || p.name === "prefix"));
    expect(lists.map((r) => r.path)).toEqual(expect.arrayContaining(["/v1/secrets", "/v1/rotation/secrets", "/v1/rotation/policies", "/v1/webhooks", "/v1/tenants", "/v1/audit/events", "/v1/watch"]));
    const answers = [];
    for (const route of routes) {
      const res = await send(route.method, `${route.url}?no_such_param=1`);
      answers.push({ route: `${route.method} ${route.path}`, status: res.status, code: res.body?.error?.code, named: String(res.body?.error?.message).includes('"no_such_param"') });
    }
    expect(answers.filter((a) => a.status !== 400 || a.code !== "invalid_request" || !a.named)).toEqual([]);
    expect(answers.length).toBeGreaterThan(50);
  });

  it("takes every query parameter its OpenAPI document lists", async () => {
    const refused = [];
    // The watch stream would stay open once its parameters are taken; the other routes answer.
    for (const route of routes.filter((r) => r.query.length > 0 && r.path !== "/v1/watch")) {
      const query = new URLSearchParams(route.query.map((p) => [p.name, sampleValue(p)]));
      const res = await send(route.method, `${route.url}?${query}`);
      if (/query parameter/.test(String(res.body?.error?.message))) refused.push(`${route.method} ${route.path}: ${res.body.error.message}`);
    }
    expect(refused).toEqual([]);
  });

  it("a write with an unknown query parameter writes nothing", async () => {
    const refused = await tv.rest("PUT", "/v1/secrets/qp/written?force=true", { token, body: { data: { k: "v" } } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toBe('unknown query parameter "force" (this route takes its fields in the JSON body)');
    expect((await tv.rest("GET", "/v1/secrets/qp/written", { token })).status).toBe(404);
    expect((await tv.rest("PUT", "/v1/secrets/qp/written", { token, body: { data: { k: "v" } } })).status).toBe(201);
    const deleting = await tv.rest("DELETE", "/v1/secrets/qp/written?hard=true", { token });
    expect(deleting.body.error.message).toBe('unknown query parameter "hard" (this route takes: permanent, version)');
    expect((await tv.rest("GET", "/v1/secrets/qp/written", { token })).status).toBe(200);
  });
});
