import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

/** Every REST route of the API (docs/api.md), written out here so the generated document is checked against it. */
const contractRoutes = [
  "GET /v1/secrets/{path}",
  "PUT /v1/secrets/{path}",
  "PATCH /v1/secrets/{path}",
  "DELETE /v1/secrets/{path}",
  "GET /v1/secrets",
  "POST /v1/secrets:batchPut",
  "GET /v1/secrets/{path}/versions",
  "GET /v1/secrets/metadata/{path}",
  "POST /v1/secrets/{path}/restore",
  "POST /v1/secrets/{path}/rotate",
  "GET /v1/secrets/expiring",
  "GET /v1/partner/secrets/{path}",
  "PUT /v1/partner/secrets/{path}",
  "DELETE /v1/partner/secrets/{path}",
  "GET /v1/rotation/policies",
  "POST /v1/rotation/policies",
  "GET /v1/rotation/policies/{id}",
  "PATCH /v1/rotation/policies/{id}",
  "DELETE /v1/rotation/policies/{id}",
  "POST /v1/rotation/policies/{id}/enable",
  "POST /v1/rotation/policies/{id}/disable",
  "POST /v1/rotation/policies/{id}/secrets",
  "DELETE /v1/rotation/policies/{id}/secrets/{secret_path}",
  "POST /v1/rotation/policies/{id}/rotate",
  "GET /v1/rotation/policies/{id}/history",
  "GET /v1/rotation/due",
  "GET /v1/rotation/pending",
  "GET /v1/secret-policies",
  "POST /v1/secret-policies",
  "GET /v1/secret-policies/{id}",
  "PATCH /v1/secret-policies/{id}",
  "DELETE /v1/secret-policies/{id}",
  "POST /v1/webhooks",
  "GET /v1/webhooks",
  "GET /v1/webhooks/{id}",
  "PATCH /v1/webhooks/{id}",
  "DELETE /v1/webhooks/{id}",
  "GET /v1/webhooks/{id}/deliveries",
  "GET /v1/watch",
  "PUT /v1/rotation/secrets/{path}",
  "GET /v1/rotation/secrets/{path}",
  "GET /v1/rotation/secrets",
  "DELETE /v1/rotation/secrets/{path}",
  "POST /v1/rotation/secrets/{path}/pause",
  "POST /v1/rotation/secrets/{path}/resume",
  "GET /v1/rotation/secrets/{path}/runs",
  "POST /v1/rotation/secrets/{path}/rollback",
  "POST /v1/rotation/secrets/{path}/retry",
  "POST /v1/rotation/secrets/{path}/resolve",
  "POST /v1/rotation/secrets/{path}/test",
  "POST /v1/notification-channels",
  "GET /v1/notification-channels",
  "GET /v1/notification-channels/{id}",
  "PATCH /v1/notification-channels/{id}",
  "DELETE /v1/notification-channels/{id}",
  "GET /v1/notification-channels/{id}/deliveries",
  "POST /v1/notification-channels/{id}/test",
  "POST /v1/webhooks/{id}/test",
  "PUT /v1/tenants/{tenant_id}",
  "GET /v1/tenants/{tenant_id}",
  "GET /v1/tenants",
  "DELETE /v1/tenants/{tenant_id}",
  "GET /v1/audit/events",
];

let tv: TestVault;
let doc: any;
beforeAll(async () => {
  tv = await startTestVault();
  const res = await fetch(`${tv.baseUrl}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  doc = await res.json();
});
afterAll(() => tv?.close());

const operation = (route: string) => {
  const [method, path] = route.split(" ") as [string, string];
  return doc.paths[path]?.[method.toLowerCase()];
};
const schema = (name: string) => doc.components.schemas[name];

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("lists exactly the REST routes of the contract", () => {
    const listed = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`));
    expect(listed.sort()).toEqual([...contractRoutes].sort());
    expect(new Set(listed.map((r) => operation(r).operationId)).size).toBe(listed.length);
  });

  it("describes every route the server serves, with the transcoder's own path matching", async () => {
    // Without a token every real route answers 401; an unknown one would be 404 `not_found` or 405.
    for (const route of contractRoutes) {
      const [method, path] = route.split(" ") as [string, string];
      const url = path.replace("{path}", "app/db").replace("{id}", "rot_x").replace("{secret_path}", "app%2Fdb").replace("{tenant_id}", "acme");
      const res = await tv.rest(method, url, method === "GET" || method === "DELETE" ? {} : { body: {} });
      expect([route, res.status]).toEqual([route, 401]);
    }
  });

  it("takes descriptions and required scopes from the protos", () => {
    const get = operation("GET /v1/secrets/{path}");
    expect(get.summary).toBe("Reads the current version of a secret, or the version given");
    expect(get.description).toContain("**Required scope:** `secrets:read`");
    expect(get.security).toEqual([{ bearerAuth: ["secrets:read"] }]);
    expect(get.tags).toEqual(["SecretsService"]);
    expect(operation("GET /v1/rotation/due").security).toEqual([{ bearerAuth: ["secrets:rotate"] }, { bearerAuth: ["admin"] }]);
    expect(operation("PUT /v1/partner/secrets/{path}").description).toContain("partner_admin");
    expect(operation("GET /v1/rotation/pending").deprecated).toBe(true);
    expect(operation("GET /v1/rotation/due").deprecated).toBeUndefined();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.tags.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(["SecretsService", "RotationService", "SecretPolicyService", "WebhookService", "AuditService"]));
  });

  it("has multi-segment path parameters and query parameters from the request fields", () => {
    const get = operation("GET /v1/secrets/{path}");
    expect(get.parameters).toEqual([
      expect.objectContaining({ name: "path", in: "path", required: true, "x-multi-segment": true }),
      expect.objectContaining({ name: "version", in: "query", schema: { type: "integer", format: "int32" }, description: "A specific version; the current one when unset." }),
      expect.objectContaining({ name: "stage", in: "query", schema: { type: "string" } }),
    ]);
    const detach = operation("DELETE /v1/rotation/policies/{id}/secrets/{secret_path}");
    expect(detach.parameters.map((p: any) => [p.name, p.in, p["x-multi-segment"]])).toEqual([
      ["id", "path", undefined],
      ["secret_path", "path", undefined],
    ]);
    const list = operation("GET /v1/secrets");
    expect(list.parameters.map((p: any) => p.name)).toEqual(["prefix", "tag", "secret_type", "expires_before", "updated_after", "include_expired", "include_metadata", "limit", "cursor"]);
    expect(list.parameters.find((p: any) => p.name === "tag")).toMatchObject({ in: "query", schema: { type: "array", items: { type: "string" } }, explode: true });
    expect(list.parameters.find((p: any) => p.name === "expires_before").schema).toMatchObject({ type: "string", format: "date-time" });
    expect(operation("DELETE /v1/secrets/{path}").parameters.map((p: any) => p.name)).toEqual(["path", "permanent", "version"]);
    expect(operation("GET /v1/rotation/due").parameters.map((p: any) => p.name)).toEqual(["within_hours", "include_overdue", "policy_id"]);
  });

  it("has request bodies without the path-bound fields, and snake_case response schemas", () => {
    const put = operation("PUT /v1/secrets/{path}");
    expect(put.parameters.map((p: any) => p.name)).toEqual(["path"]);
    const body = schema(put.requestBody.content["application/json"].schema.$ref.split("/").pop());
    expect(Object.keys(body.properties)).toEqual(["data", "secret_type", "metadata", "options"]);
    expect(body.properties.data).toMatchObject({ type: "object" });
    expect(schema("SecretOptions").properties).toHaveProperty("max_versions");

    const secret = schema(operation("GET /v1/secrets/{path}").responses["200"].content["application/json"].schema.$ref.split("/").pop());
    expect(Object.keys(secret.properties)).toEqual(["path", "version", "secret_type", "data", "metadata", "created_at", "expires_at"]);
    expect(secret.properties.expires_at).toMatchObject({ type: ["string", "null"], format: "date-time" });
    expect(secret.required).toEqual(expect.arrayContaining(["path", "version", "secret_type", "expires_at"]));
    expect(schema("ListSecretsResponse").properties).toMatchObject({ has_more: { type: "boolean" }, cursor: { type: ["string", "null"] } });

    const assign = operation("POST /v1/rotation/policies/{id}/secrets");
    expect(Object.keys(schema(assign.requestBody.content["application/json"].schema.$ref.split("/").pop()).properties)).toEqual(["secret_path"]);

    // schedules and rotation windows: request fields, the policy's next windows, the due list's window
    const createPolicy = schema(operation("POST /v1/rotation/policies").requestBody.content["application/json"].schema.$ref.split("/").pop());
    expect(createPolicy.properties).toMatchObject({ schedule: { type: "string" }, timezone: { type: "string" }, rotation_window: { type: "string" } });
    expect(createPolicy.properties.schedule.description).toContain("cron");
    const policy = schema("RotationPolicy");
    expect(policy.properties.next_windows).toMatchObject({ type: "array", items: { type: "string", format: "date-time" } });
    expect(policy.properties.interval).toMatchObject({ type: ["string", "null"] });
    expect(schema("DueSecret").properties).toHaveProperty("window_opens_at");
    expect(schema("SecretRotationRef").properties).toHaveProperty("window_closes_at");
  });

  it("answers 201 where the handler does, the bare array of RotatePolicy, and the error schema", () => {
    expect(Object.keys(operation("PUT /v1/secrets/{path}").responses)).toEqual(expect.arrayContaining(["200", "201"]));
    for (const route of ["POST /v1/rotation/policies", "POST /v1/webhooks", "POST /v1/secret-policies"]) {
      expect(operation(route).responses).toHaveProperty("201");
      expect(operation(route).responses).not.toHaveProperty("200");
    }
    expect(operation("POST /v1/rotation/policies/{id}/secrets").responses).toHaveProperty("201");
    expect(operation("GET /v1/secrets/{path}").responses).not.toHaveProperty("201");

    const rotate = operation("POST /v1/rotation/policies/{id}/rotate").responses["200"].content["application/json"].schema;
    expect(rotate).toMatchObject({ type: "array", items: { $ref: "#/components/schemas/RotationHistoryItem" } });

    expect(operation("GET /v1/secrets/{path}").responses["4XX"]).toEqual({ $ref: "#/components/responses/Error" });
    const error = schema("Error").properties.error;
    expect(error.required).toEqual(["code", "message", "request_id"]);
    expect(error.properties.code.enum).toEqual(expect.arrayContaining(["secret_not_found", "version_conflict", "invalid_duration", "unavailable"]));
  });
});
