import { getOption, hasOption, type DescMethod } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http as httpRule } from "../../gen/google/api/annotations_pb.js";
import { errorCodes } from "../../src/errors.js";
import { grpcClient, reasonOf } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";

// Hostile input over every REST route, Connect JSON, Connect binary and gRPC: no 5xx, no process
// exit, every 4xx a contract code. Seeded and bounded for CI; SCAIVAULT_FUZZ_RUNS raises the count
// per property and SCAIVAULT_FUZZ_SEED replays a run.
const seed = Number(process.env.SCAIVAULT_FUZZ_SEED ?? 20261201);
const runs = Number(process.env.SCAIVAULT_FUZZ_RUNS ?? 400);
const contractCodes = new Set(Object.keys(errorCodes));

const hostileConstants = [
  "\u0000", "a\u0000b", "\n", "\r\n", "\t", "\u0007", "\u007f", "\u0085", "\u202e", "\u200f", "\ufeff", "\ud800", "x\udc00",
  ".", "..", "%2e%2e", "%2E", "%00", "%0A", "%", "%zz", "a//b", "/", "//", "a/./b", "a/../b", "\\", "'", '"', "<script>",
  "x".repeat(10_000), "é".repeat(3000), "9".repeat(400), "-1", "-0", "1e309", "NaN", "Infinity", "0x10", "true", "null",
  "{}", "[]", "2026-13-45T99:99:99Z", "90d", "0s", "999999999999999999999d", "rot_", "wh_", "sp_",
];
const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...hostileConstants) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileString,
    fc.constantFrom(-1, 0, 1.5, 2 ** 53, -(2 ** 63), 1e308, true, false, null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(hostileString, tie("value"), { maxKeys: 3 }),
  ),
})).value;

/** Header values a client can actually send (no CR, LF or NUL). */
const sendable = (value: string) => /^[\t\x20-\x7e]*$/.test(value);

describe("fuzz: hostile input never gets a 5xx", () => {
  let tv: TestVault;
  let tokens: (string | undefined)[];
  let methods: DescMethod[];
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_SCHEDULER_ENABLED: "false" } });
    const admin = await tv.token({ tenantId: "fuzz", scopes: ["admin", "audit:read", "platform:admin"] });
    const partner = await tv.token({ tenantId: "fuzz-p", scopes: ["admin"], partnerId: "fp", partnerAdmin: true });
    tokens = [admin, partner, undefined, "not-a-token"];
    expect((await tv.rest("PUT", "/v1/secrets/app/db", { token: admin, body: { data: { v: 1 } } })).status).toBe(201);
    methods = tv.vault.app.services.filter((s) => s.typeName.startsWith("scaivault.")).flatMap((s) => s.methods).filter((m) => m.methodKind === "unary");
  });
  afterAll(async () => tv?.close());

  it("REST: every route with hostile path variables, query parameters, bodies and headers", async () => {
    const routes = methods.filter((m) => hasOption(m, httpRule)).map((m) => {
      const rule = getOption(m, httpRule);
      return { method: rule.pattern.case!.toUpperCase(), template: String(rule.pattern.value), input: m.input };
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        hostileString,
        fc.boolean(),
        fc.array(fc.tuple(fc.oneof(hostileString, fc.constantFrom("prefix", "tag", "actor", "action", "policy_id", "limit", "cursor", "version", "days")), hostileString), { maxLength: 3 }),
        fc.option(fc.dictionary(fc.oneof(hostileString, fc.constantFrom("data", "metadata", "options", "name", "reason", "partner_id", "url", "chars")), hostileJson, { maxKeys: 4 })),
        fc.nat(tokens.length - 1),
        fc.record({ requestId: hostileString, tenant: hostileString, contentType: fc.constantFrom("application/json", "text/plain", "application/proto", "") }),
        async (route, variable, encode, query, body, tokenIndex, headers) => {
          // A URL cannot carry an unpaired surrogate: clients send U+FFFD in its place.
          const sent = variable.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
          // Encoded whole, or raw with only what a URL cannot hold encoded (so `..`, `//` and `%2e` arrive as typed).
          const value = encode ? encodeURIComponent(sent) : sent.replace(/[^\x21-\x7e]+/g, (c) => encodeURIComponent(c));
          const path = route.template.replace(/\{[^}]+\}/g, value);
          const search = new URLSearchParams(query).toString();
          const h: Record<string, string> = {};
          const token = tokens[tokenIndex];
          if (token) h.authorization = `Bearer ${token}`;
          if (sendable(headers.requestId)) h["x-request-id"] = headers.requestId;
          if (sendable(headers.tenant) && headers.tenant.trim()) h["x-scaivault-tenant"] = headers.tenant;
          if (headers.contentType) h["content-type"] = headers.contentType;
          let target: URL;
          try {
            target = new URL(tv.baseUrl + path + (search ? `?${search}` : ""));
          } catch {
            return; // not a request any client can send
          }
          const res = await fetch(target, {
            method: route.method,
            headers: h,
            body: route.method === "GET" || route.method === "DELETE" || body === null ? undefined : JSON.stringify(body),
          });
          const text = await res.text();
          expect(res.status, `${route.method} ${target.pathname}: ${text.slice(0, 200)}`).toBeLessThan(500);
          // Node's HTTP parser refuses a request line and headers over 16 KiB before the app sees them.
          if (res.status === 431) return;
          if (res.status >= 400) expect(contractCodes.has(JSON.parse(text).error?.code), text.slice(0, 200)).toBe(true);
        },
      ),
      { seed, numRuns: runs, endOnFailure: true },
    );
  });

  it("Connect JSON and Connect binary: hostile JSON and random bytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...methods),
        fc.oneof(fc.dictionary(fc.oneof(hostileString, fc.constantFrom("path", "id", "tenant_id", "data", "metadata", "options")), hostileJson, { maxKeys: 4 }), hostileJson),
        fc.uint8Array({ maxLength: 64 }),
        fc.boolean(),
        async (method, json, bytes, binary) => {
          const res = await fetch(`${tv.baseUrl}/${method.parent.typeName}/${method.name}`, {
            method: "POST",
            headers: {
              "content-type": binary ? "application/proto" : "application/json",
              "connect-protocol-version": "1",
              authorization: `Bearer ${tokens[0]}`,
            },
            body: binary ? bytes : JSON.stringify(json),
          });
          const text = await res.text();
          expect(res.status, `${method.name}: ${text.slice(0, 200)}`).toBeLessThan(500);
          if (res.status >= 400) expect(JSON.parse(text).code, text.slice(0, 200)).not.toMatch(/^(internal|unknown)$/);
        },
      ),
      { seed, numRuns: runs, endOnFailure: true },
    );
  });

  it("gRPC: hostile strings in every string field of every method", async () => {
    const clients = new Map<string, ReturnType<typeof grpcClient>>();
    const files: Record<string, string> = {
      SecretsService: "secrets.proto",
      RotationService: "rotation.proto",
      SecretPolicyService: "secret_policies.proto",
      WebhookService: "webhooks.proto",
      AuditService: "audit.proto",
      TenantService: "tenants.proto",
      NotificationChannelService: "notifications.proto",
      WatchService: "watch.proto",
    };
    const clientOf = (service: string) => {
      let client = clients.get(service);
      if (!client) clients.set(service, (client = grpcClient(tv.port, service as never, files[service]!)));
      return client;
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...methods), hostileString, async (method, value) => {
          const request: Record<string, unknown> = {};
          for (const field of method.input.fields) if (field.fieldKind === "scalar" && field.scalar === 9) request[field.name] = value;
          const md = new grpc.Metadata();
          md.set("authorization", `Bearer ${tokens[0]}`);
          const err = await new Promise<grpc.ServiceError | null>((resolve) =>
            (clientOf(method.parent.name) as any)[method.name](request, md, { deadline: Date.now() + 30_000 }, (e: grpc.ServiceError | null) => resolve(e)),
          );
          if (!err) return;
          expect([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED], `${method.name}: ${err.details}`).not.toContain(err.code);
          expect(contractCodes.has(reasonOf(err) ?? ""), `${method.name}: ${err.details}`).toBe(true);
        }),
        { seed, numRuns: runs, endOnFailure: true },
      );
    } finally {
      for (const client of clients.values()) client.close();
    }
    // Still alive and serving.
    expect((await fetch(`${tv.baseUrl}/healthz`)).status).toBe(200);
  });
});
