import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";

describe("the secrets guide's error codes over gRPC (@grpc/grpc-js)", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let tv: TestVault;
  let token: string;
  let client: any;
  const fail = (method: string, req: unknown, t = token) => unary(client, method, req, t).then(() => undefined, (e) => e as grpc.ServiceError);
  beforeAll(async () => {
    tv = await startTestVault({ clock });
    token = await tv.token({ tenantId: "g", ttlSeconds: 30 * 86400 });
    client = grpcClient(tv.port, "SecretsService", "secrets.proto");
    const data = { fields: { v: { stringValue: "1" } } };
    await unary(client, "PutSecret", { path: "g/a", data }, token);
    await unary(client, "PutSecret", { path: "g/a", data }, token);
    await unary(client, "PutSecret", { path: "g/soft", data }, token);
    await unary(client, "DeleteSecret", { path: "g/soft" }, token);
    await unary(client, "PutSecret", { path: "g/exp", data, options: { expires_in: "1h" } }, token);
  });
  afterAll(async () => {
    client?.close();
    await tv?.close();
  });

  it.each([
    ["secret_not_found", grpc.status.NOT_FOUND, "GetSecret", { path: "g/none" }],
    ["secret_exists", grpc.status.ALREADY_EXISTS, "PutSecret", { path: "g/soft", data: { fields: {} } }],
    ["version_not_found", grpc.status.NOT_FOUND, "GetSecret", { path: "g/a", version: 7 }],
    ["invalid_path", grpc.status.INVALID_ARGUMENT, "GetSecret", { path: "g/../x" }],
    ["version_conflict", grpc.status.ABORTED, "PutSecret", { path: "g/a", data: { fields: {} }, options: { cas: 1 } }],
    ["invalid_duration", grpc.status.INVALID_ARGUMENT, "PutSecret", { path: "g/d", data: { fields: {} }, options: { expires_in: "later" } }],
  ])("%s", async (code, status, method, req) => {
    const err = await fail(method, req);
    expect(err?.code).toBe(status);
    expect(reasonOf(err!)).toBe(code);
  });

  it("access_denied", async () => {
    const reader = await tv.token({ tenantId: "g", scopes: ["secrets:read"], ttlSeconds: 30 * 86400 });
    const err = await fail("DeleteSecret", { path: "g/a" }, reader);
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(reasonOf(err!)).toBe("access_denied");
  });

  it("secret_expired", async () => {
    clock.advance(2 * 3600_000);
    const err = await fail("GetSecret", { path: "g/exp" });
    expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(reasonOf(err!)).toBe("secret_expired");
  });
});
