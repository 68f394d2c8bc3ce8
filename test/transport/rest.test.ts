import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, startTestServer, type TestServer } from "./fixtures.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ maxBodyBytes: 2048 });
});
afterAll(() => s.close());

const json = (method: string, body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method,
  body: typeof body === "string" ? body : JSON.stringify(body),
  headers: { "content-type": "application/json", ...headers },
});
const lastCall = () => s.seen[s.seen.length - 1]!;

describe("REST reads and writes", () => {
  it("reads a secret as snake_case JSON with json_null fields as null", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/db/main`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      path: "db/main",
      version: 3,
      secret_type: "kv",
      data: { password: "s3cret" },
      created_at: "2026-04-23T14:00:00Z",
      expires_at: null,
    });
    expect(res.headers.get("content-type")).toBe("application/json");
  });

  it("answers 201 when the handler marks its reply as created, with no status header of its own", async () => {
    const created = await call(`${s.baseUrl}/v1/secrets/app/new`, json("PUT", { data: { k: "v" }, secret_type: "kv" }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ path: "app/new", version: 1, created: true });
    expect(created.headers.get("x-http-code")).toBeNull();

    const updated = await call(`${s.baseUrl}/v1/secrets/app/new`, json("PUT", { data: { k: "w" } }));
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ path: "app/new", version: 2, created: false, previous_version: 1 });
  });

  it("lets path variables win over the body", async () => {
    await call(`${s.baseUrl}/v1/secrets/from/url`, json("PUT", { path: "from/body", data: {} }));
    expect(lastCall().message).toMatchObject({ path: "from/url" });
  });

  it("maps a handler's contract error to its status and the error body", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/does/not/exist`, { headers: { "x-request-id": "req-123" } });
    expect(res.status).toBe(404);
    const requestId = res.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body).toEqual({ error: { code: "secret_not_found", message: "secret not found", request_id: requestId } });
  });
});

describe("route matching", () => {
  it("prefers routes with more literal segments", async () => {
    await call(`${s.baseUrl}/v1/secrets/metadata/team/db`);
    expect(lastCall()).toMatchObject({ method: "GetSecretMetadata", message: { path: "team/db" } });

    const expiring = await call(`${s.baseUrl}/v1/secrets/expiring?days=7`);
    expect(lastCall().method).toBe("ListExpiringSecrets");
    expect(expiring.body).toEqual({ secrets: [{ path: "within-7-days", days_remaining: 7 }] });

    await call(`${s.baseUrl}/v1/secrets/a/b/versions`);
    expect(lastCall()).toMatchObject({ method: "ListSecretVersions", message: { path: "a/b" } });

    await call(`${s.baseUrl}/v1/secrets/a/b/rotate`, json("POST", { reason: "test" }));
    expect(lastCall()).toMatchObject({ method: "RotateSecret", message: { path: "a/b", reason: "test" } });

    await call(`${s.baseUrl}/v1/secrets/a/b`);
    expect(lastCall()).toMatchObject({ method: "GetSecret", message: { path: "a/b" } });
  });

  it("decodes %2F in a single-segment variable", async () => {
    const res = await call(`${s.baseUrl}/v1/rotation/policies/rot_q/secrets/team%2Fdb%2Fmain`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ policy_id: "rot_q", secret_path: "team/db/main", detached: true });
  });

  it("decodes escapes, %2F included, inside a ** variable, without letting an encoded slash pick a route", async () => {
    await call(`${s.baseUrl}/v1/secrets/a%2Fb/c%2Dd`);
    expect(lastCall().message).toMatchObject({ path: "a/b/c-d" });
    // `a%2Fversions` is one raw segment: it reaches GetSecret (whose path check refuses the reserved name), not ListSecretVersions
    await call(`${s.baseUrl}/v1/secrets/a%2Fversions`);
    expect(lastCall()).toMatchObject({ method: "GetSecret", message: { path: "a/versions" } });
  });

  it("answers 404 with the error body for unknown routes and wrong case", async () => {
    for (const path of ["/v2/nothing", "/V1/secrets", "/scaivault.v1.SecretsService/Nope"]) {
      const res = await call(s.baseUrl + path);
      expect(res.status, path).toBe(404);
      expect(res.body.error).toMatchObject({ code: "not_found" });
      expect(res.body.error.request_id).toBe(res.headers.get("x-request-id"));
    }
  });

  it("answers 405 with Allow when the path exists for other methods", async () => {
    const res = await call(`${s.baseUrl}/v1/rotation/policies/rot_q/rotate`, { method: "GET" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(res.body.error.code).toBe("method_not_allowed");

    const many = await call(`${s.baseUrl}/v1/secrets/x`, { method: "POST" });
    expect(many.headers.get("allow")?.split(", ").sort()).toEqual(["DELETE", "GET", "PATCH", "PUT"]);
  });

  it("maps /v1/t/{tenant}/... to the route with the target-tenant header", async () => {
    const res = await call(`${s.baseUrl}/v1/t/tenant-b/secrets/db/main`, { headers: { authorization: "Bearer abc" } });
    expect(res.status).toBe(200);
    expect(lastCall()).toMatchObject({ method: "GetSecret", tenant: "tenant-b", authorization: "Bearer abc", message: { path: "db/main" } });

    await call(`${s.baseUrl}/v1/secrets/db/main`, { headers: { "x-scaivault-tenant": "tenant-c" } });
    expect(lastCall().tenant).toBe("tenant-c");
  });
});

describe("query parameters", () => {
  it("coerces repeated, boolean and integer parameters", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets?tag=a&tag=b&include_expired=1&limit=5`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      secrets: [
        { path: "a", secret_type: "", version: 0, tags: ["a", "b"], expires_at: null },
        { path: "b", secret_type: "", version: 0, tags: ["a", "b"], expires_at: null },
      ],
      cursor: null,
      has_more: true,
      total_count: 5,
      total_count_exact: false,
    });
  });

  it("refuses an unknown parameter, naming it and what the route takes, before the handler runs", async () => {
    const before = s.seen.length;
    const res = await call(`${s.baseUrl}/v1/secrets?prefix=a/&utm_source=x`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(res.body.error.message).toMatch(/^unknown query parameter "utm_source" \(this route takes: prefix, tag, .*limit, cursor\)$/);
    const none = await call(`${s.baseUrl}/v1/secrets/metadata/db/main?verbose=1`);
    expect(none.body.error.message).toBe('unknown query parameter "verbose" (this route takes none)');
    expect(s.seen.length).toBe(before);
  });

  it("takes a parameter under its JSON name too, and refuses one the path or the body binds", async () => {
    expect((await call(`${s.baseUrl}/v1/secrets?includeExpired=true`)).status).toBe(200);
    const pathBound = await call(`${s.baseUrl}/v1/secrets/db/main?path=other`);
    expect(pathBound.status).toBe(400);
    expect(pathBound.body.error.message).toBe('query parameter "path" cannot be given in the query (this route takes: version, stage)');
    const before = s.seen.length;
    const bodyRoute = await call(`${s.baseUrl}/v1/secrets/app/q?cas=1`, json("PUT", { data: { k: "v" } }));
    expect(bodyRoute.status).toBe(400);
    expect(bodyRoute.body.error.message).toBe('unknown query parameter "cas" (this route takes its fields in the JSON body)');
    const bodyField = await call(`${s.baseUrl}/v1/secrets/app/q?secret_type=kv`, json("PUT", { data: { k: "v" } }));
    expect(bodyField.body.error.message).toBe('query parameter "secret_type" cannot be given in the query (this route takes its fields in the JSON body)');
    expect(s.seen.length).toBe(before);
  });

  it("never repeats a parameter name that is not shaped like a field name (it may be request content)", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets?${encodeURIComponent("sk_live_hunter2 secret")}=1`);
    expect(res.status).toBe(400);
    expect(res.body.error.message).not.toContain("hunter2");
    expect(res.body.error.message).toMatch(/^unknown query parameter \(name not shown/);
  });

  it("accepts RFC 3339 timestamps", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets?expires_before=2026-05-01T00:00:00Z`);
    expect(res.status).toBe(200);
  });

  it.each([
    ["include_expired=yes", "include_expired"],
    ["limit=ten", "limit"],
    ["limit=99999999999", "limit"],
    ["expires_before=tomorrow", "expires_before"],
  ])("rejects %s with 400 naming the field", async (query, field) => {
    const res = await call(`${s.baseUrl}/v1/secrets?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(res.body.error.message).toContain(`"${field}"`);
    expect(res.body.error.message).not.toContain(query.split("=")[1]);
  });
});

describe("request bodies", () => {
  it("rejects malformed JSON", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/x`, json("PUT", '{"data": {'));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", message: "malformed JSON body" });
  });

  it("rejects a body that is not an object", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/x`, json("PUT", "[1,2]"));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
  });

  it("names the field of a wrong type without echoing the value", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/x`, json("PUT", { data: "hunter2-plaintext" }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('invalid value for field "data"');

    const nested = await call(`${s.baseUrl}/v1/secrets/x`, json("PUT", { data: {}, options: { max_versions: "many" } }));
    expect(nested.body.error.message).toBe('invalid value for field "options.max_versions"');
  });

  it("rejects unknown fields (mass-assignment guard)", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/x`, json("PUT", { data: {}, tenant_id: "other" }));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", message: 'unknown field "tenant_id"' });

    const nested = await call(`${s.baseUrl}/v1/secrets/x`, json("PUT", { data: {}, metadata: { owner: "me", admin: true } }));
    expect(nested.body.error.message).toBe('unknown field "metadata.admin"');
  });

  it("accepts an empty body on POST routes without one", async () => {
    const res = await call(`${s.baseUrl}/v1/rotation/policies/rot_q/rotate`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
  });

  it("answers 413 over the body limit", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/x`, json("PUT", { data: { blob: "x".repeat(4096) } }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
  });
});

describe("responses", () => {
  it("sends the bare array of a response_body binding", async () => {
    const res = await call(`${s.baseUrl}/v1/rotation/policies/rot_q/rotate`, json("POST", { secret_paths: ["a", "b"] }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { id: "rh_0", policy_id: "rot_q", secret_path: "a", status: "success", rotated_by: "" },
      { id: "rh_1", policy_id: "rot_q", secret_path: "b", status: "success", rotated_by: "" },
    ]);
  });

  it("hides internal errors behind `internal` and logs the cause", async () => {
    const res = await call(`${s.baseUrl}/v1/secrets/boom`);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: "internal", message: "internal error", request_id: res.headers.get("x-request-id") } });
    expect(JSON.stringify(res.body)).not.toContain("hunter2");
    // The cause is logged with the request id, the database URL's password replaced.
    const requestId = res.headers.get("x-request-id")!;
    expect(s.logs.some((line) => line.includes(requestId) && line.includes("postgres://admin:[redacted]@db"))).toBe(true);
    expect(s.logs.filter((line) => line.includes("hunter2"))).toEqual([]);
  });

  it("always generates the request id and keeps a sane client one as client_request_id", async () => {
    const first = await call(`${s.baseUrl}/v1/secrets/db/main`, { headers: { "x-request-id": "abc-123" } });
    expect(first.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(lastCall()).toMatchObject({ requestId: first.headers.get("x-request-id"), clientRequestId: "abc-123" });
    // Two calls with the same client id still get two ids.
    const second = await call(`${s.baseUrl}/v1/secrets/db/main`, { headers: { "x-request-id": "abc-123" } });
    expect(second.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));
    const res = await call(`${s.baseUrl}/v1/secrets/db/main`, { headers: { "x-request-id": "<script>" } });
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(lastCall().clientRequestId).toBeUndefined();
    expect(lastCall().requestId).toBe(res.headers.get("x-request-id"));
    expect(lastCall().clientAddress).toBe("127.0.0.1");
  });
});

describe("plain routes", () => {
  it("serves /healthz, /readyz and extra routes", async () => {
    expect(await call(`${s.baseUrl}/healthz`)).toMatchObject({ status: 200, body: { status: "ok" } });
    expect((await call(`${s.baseUrl}/readyz`)).status).toBe(200);
    s.setReady(false);
    expect((await call(`${s.baseUrl}/readyz`)).status).toBe(503);
    s.setReady(true);
    expect(await call(`${s.baseUrl}/openapi.json`)).toMatchObject({ status: 200, body: { openapi: "3.1.0" } });
  });
});
